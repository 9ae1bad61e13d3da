"""The button side of chuong: canonical wire messages, topics, and vendor profiles."""
