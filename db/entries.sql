-- Schema version 4: every money move writes two entries, and only
-- `drinkd check-ledger` reads them, scanning them whole.  Their two
-- indexes made each move update four more b-tree pages (the last page of
-- each account's range in entries_account: the member's, @holds',
-- @sales'), most of a drop's commit, for no reader; they are dropped.
DROP INDEX entries_tx;
DROP INDEX entries_account;
