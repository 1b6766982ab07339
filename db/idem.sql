-- Schema version 5: settling a keyed drop rewrites the reply stored under
-- its key, found by (account, tx).  The key's own index is (account,
-- key), so each capture or release scanned every key the member ever
-- used (the CLI and the web app send one with every drop); this index
-- finds the one row directly.
CREATE INDEX idem_tx ON idem (account, tx) WHERE tx IS NOT NULL;
