"""The PostgreSQL store, for several server instances on one database:
``store`` connects, migrates and runs transactions (with the locks that
make instances take turns where they must), ``statements`` sends one
transaction's statements, ``dialect`` prepares the shared SQL
(``bot.store.sql``) for PostgreSQL."""
