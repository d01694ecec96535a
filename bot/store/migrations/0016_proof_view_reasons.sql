-- Why a staff member opened an ID proof: a reason from the console's list
-- (its code) or the words they typed. Older views have none ('').
ALTER TABLE attachment_views ADD COLUMN reason TEXT NOT NULL DEFAULT '';
