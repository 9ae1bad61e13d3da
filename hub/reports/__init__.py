"""Reports for the district: the monthly report's figures and the history's CSV rows."""
