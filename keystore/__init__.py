"""The key store: each person's data key, wrapped by the server's keys, in a database of its own
(the `keys` alias), and the model field that encrypts text at rest with it."""
