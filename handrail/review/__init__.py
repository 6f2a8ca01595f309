"""Reviews bound to what was reviewed: proposal fingerprints, signed single-use links, signed
notices.

- ``fingerprint``: the digest of a proposal (pure: the workflow imports it);
- ``links``: signing and verifying review links (HMAC-SHA256, expiring);
- ``used_links``: the single-use table in Handrail's state database;
- ``apply``: verify, consume and send a link's decision through the ``review`` update;
- ``notices``: a notice's links and bodies (Handrail JSON, Slack Block Kit);
- ``signature``: the notice's HMAC header, and verifying it (for receivers).

This ``__init__`` imports nothing, so that workflow code can import ``fingerprint`` without
pulling in the database layer.
"""
