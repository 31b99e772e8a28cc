"""Deploying: making a version live in an environment, rolling it back, and loading it.
``deploy`` switches links (``hook`` runs the deploy hook, ``recording`` writes history, ``lookup`` reads it, ``repair``
mends after a crash), ``pinning`` keeps what is live, ``gate`` says what may go live."""
