-- Email codes typed at a code step before they were kept masked: mask them now,
-- as the engine masks new ones (every digit becomes a bullet), so staff never
-- see a code the mail told the customer not to share.
UPDATE inbound_messages
SET text = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
    text, '0', '•'), '1', '•'), '2', '•'), '3', '•'), '4', '•'), '5', '•'), '6', '•'),
    '7', '•'), '8', '•'), '9', '•')
WHERE state_before = 'status_code' OR state_before LIKE '%.email_code';
