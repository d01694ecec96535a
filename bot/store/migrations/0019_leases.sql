-- Work that one instance at a time may do (the hourly housekeeping): whoever
-- holds the named lease until it expires. A holder that dies loses it when it
-- expires; the holder itself renews it.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
