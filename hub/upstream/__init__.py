"""Posts, districts and provinces: a hub's alarm changes sent to the hub above it, and a district
hub that shows its posts' alarms (docs/DISTRICT.md).

    post hub ── store: the change and its `upstream` row, one transaction (post.UpstreamHook)
             └─ post.UpstreamSender: its own MQTT connection to the district's broker; QoS 1,
                each change again until the district acknowledges it; a heartbeat every N s
    district hub ── district.DistrictReceiver: each post's changes, in order per alarm, once;
                    acknowledged back; "post silent" when a post's heartbeat stops
"""
