-- Schema version 6: tx's CHECK constraints as comparisons, not IN lists.
-- SQLite checks a list of more than two constants with a temporary b-tree
-- it builds and frees at every INSERT or UPDATE of tx, page cache and all
-- (85 KiB), three times per drop: more CPU than the rest of the write,
-- and memory the allocator hands back to the kernel and faults in again.
-- The same rules written as ORs of comparisons cost nothing of the kind.
-- Every stored row satisfies both, so the table's text is edited in
-- place, as SQLite documents for such constraint changes; db.c checks the
-- edit took and advances the schema cookie.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(replace(sql,
'kind		TEXT NOT NULL CHECK (kind IN
			    (''drop'', ''refund'', ''transfer'', ''credit'', ''debit'',
			     ''adjust'')),',
'kind		TEXT NOT NULL CHECK (kind = ''drop'' OR kind = ''refund''
			    OR kind = ''transfer'' OR kind = ''credit''
			    OR kind = ''debit'' OR kind = ''adjust''),'),
'state		TEXT NOT NULL CHECK (state IN
			    (''pending'', ''completed'', ''failed'')),',
'state		TEXT NOT NULL CHECK (state = ''pending''
			    OR state = ''completed'' OR state = ''failed''),')
WHERE type = 'table' AND name = 'tx';
PRAGMA writable_schema = RESET;
