-- Tokens (issue 12): when each was last used (to the minute; written in the background, so
-- a request never waits on it), and when a rotated token stops working (`expires`: the old
-- token of a rotation keeps working for a grace period, so the identity provider can be
-- given the new one without a gap).
ALTER TABLE tokens ADD COLUMN last_used TEXT;
ALTER TABLE tokens ADD COLUMN expires TEXT;
