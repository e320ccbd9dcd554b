"""The functions platform's migrations: the registry and the event queue, one package each."""
