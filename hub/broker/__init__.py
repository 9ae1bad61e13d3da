"""The broker side: the MQTT adapter (the only importer of the MQTT library), ingest and vendor
routing of what arrives, the fan-out of what the hub publishes, and the watch on the connection."""
