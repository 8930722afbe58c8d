from django.db import models


class DataKey(models.Model):
    """One person's data key, wrapped by the server's keys. Lives in the `keys` database only
    (keystore.routers): a dump of the diary database holds no key to its text."""

    # The owner's user id; no foreign key, as the users live in the other database.
    owner_id = models.BigIntegerField(unique=True)
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "data key"

    def __str__(self) -> str:
        return f"data key of user #{self.owner_id}"
