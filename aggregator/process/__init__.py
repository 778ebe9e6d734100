"""The process half: stored articles in, events, matches and outbox rows out.

One consumer (the daemon holding the consumer lock) takes stored, unprocessed articles
in id order through dedup → clustering → match and writes what they decide; alerts are
then delivered from the outbox (``aggregator.alerts``). The poll half
(``aggregator.poll``) only stores articles: the database joins the two.
"""
