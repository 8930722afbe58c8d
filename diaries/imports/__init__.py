"""Moving a diary in: reading files (`formats`), writing their entries (`service`), and the
background job an upload becomes (`jobs`)."""
