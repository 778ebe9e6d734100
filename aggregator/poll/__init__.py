"""The poll half: a due feed row in, stored articles out.

fetch (polite HTTP, with decompress and netguard) → parse (with saxdriver) → normalize
→ stored, with extract for full pages, schedule deciding when the feed is due again and
poller driving one poll; discover finds a site's feeds. Nothing here decides duplicates,
events or alerts: that is the process half (``aggregator.process``), joined to this one
by the database.
"""
