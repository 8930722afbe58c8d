"""The key store's rows live in the `keys` database, and nothing else does."""

KEYS_ALIAS = "keys"
APP_LABEL = "keystore"


class KeyStoreRouter:
    def db_for_read(self, model, **hints):
        return KEYS_ALIAS if model._meta.app_label == APP_LABEL else None

    def db_for_write(self, model, **hints):
        return KEYS_ALIAS if model._meta.app_label == APP_LABEL else None

    def allow_relation(self, obj1, obj2, **hints):
        if APP_LABEL in (obj1._meta.app_label, obj2._meta.app_label):
            return obj1._meta.app_label == obj2._meta.app_label
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return (app_label == APP_LABEL) == (db == KEYS_ALIAS)
