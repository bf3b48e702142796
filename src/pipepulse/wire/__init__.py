"""The wire contract between pipepulse and the programs it talks to, shared by both sides.

- ``invocation``: the body the scheduler invokes a loader with (which run of which connection);
- ``invocation_signature``: how the ``http`` dispatcher signs an invocation and a loader checks it;
- ``webhook_signature``: how a webhook channel's notification is signed and a receiver checks it.

The server (scheduler, alert channels) imports these and nothing of ``pipepulse.loader``; the
loaders and receivers import the same modules, so both sides follow one rule. Nothing here
touches the database or the network.
"""
