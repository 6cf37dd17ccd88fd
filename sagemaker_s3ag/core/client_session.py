"""Client sessions: ask AWS as a given botocore client would, when a request comes with no SageMaker session.

A request from raw boto3, ``@remote`` or a hand-made pipeline definition reaches the choke point as a
call on some SageMaker client. The preflight (``GetDataAccess``, ``GetCallerIdentity``) and the
Studio domain look-up then ask with that very client's credentials (refreshable ones keep
refreshing), Region, proxies and event hooks, through :func:`session_of_client`::

    session = session_of_client(sagemaker_client)
    session.client("s3control", config=Config(read_timeout=5))
"""

from __future__ import annotations

import copy
import threading
import weakref
from typing import Any, Optional

_lock = threading.Lock()
_sessions: weakref.WeakKeyDictionary[Any, ClientSession] = weakref.WeakKeyDictionary()


class ClientSession:
    """Makes clients of other services with one client's credentials, Region and event hooks.

    Attributes:
        region_name: the Region of the client it was made from.
    """

    def __init__(self, client: Any) -> None:
        meta = client.meta
        self.region_name: Optional[str] = meta.region_name
        self._events = meta.events
        self._proxies = getattr(meta.config, "proxies", None)
        getter = getattr(client, "_get_credentials", None)  # botocore >= 1.29; the signer's own credentials
        self._credentials = (
            getter() if callable(getter) else getattr(getattr(client, "_request_signer", None), "_credentials", None)
        )

    def _session(self) -> Any:
        """A botocore session with the client's event hooks as they are now (a copy: the client's stay its own)."""
        from botocore.credentials import CredentialProvider, CredentialResolver
        from botocore.session import Session

        credentials = self._credentials

        class _TheClients(CredentialProvider):  # type: ignore[misc]  # hands out the client's own credentials object
            METHOD = "sagemaker-s3ag-client"

            def load(self) -> Any:
                return credentials

        # The client's event emitter already holds botocore's built-in handlers and every handler
        # the user registered on their session before making it, or on the client since.
        session = Session(event_hooks=copy.copy(self._events), include_builtin_handlers=False)
        session.register_component("credential_provider", CredentialResolver([_TheClients()]))
        session.register_component("data_loader", _loader())  # service models read from disk once per process
        return session

    def client(self, service: str, config: Any = None) -> Any:
        """A new client of ``service``, in this Region, with these credentials and the client's event hooks as they are now."""
        if self._proxies and config is not None and not getattr(config, "proxies", None):
            from botocore.config import Config

            config = config.merge(Config(proxies=self._proxies))
        return self._session().create_client(service, region_name=self.region_name, config=config)

    def get_credentials(self) -> Any:
        """The client's credentials object (``None`` when it has none)."""
        return self._credentials

    def __repr__(self) -> str:
        return f"ClientSession(region_name={self.region_name!r})"


_shared_loader: Any = None


def _loader() -> Any:
    """One botocore data loader for every client session: it caches the service models it has read."""
    global _shared_loader
    with _lock:
        if _shared_loader is None:
            from botocore.loaders import create_loader

            _shared_loader = create_loader()
        return _shared_loader


def session_of_client(client: Any) -> ClientSession:
    """The :class:`ClientSession` of ``client``, made once per client."""
    with _lock:
        found = _sessions.get(client)
        if found is None:
            found = _sessions[client] = ClientSession(client)
        return found
