"""The store's interface by aggregate; ``bot.store.base.Transaction`` is all
of them at once, which each backend implements."""
