"""Where the platform's public interfaces are, and the tokens the simulated actors carry."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from backbone import auth
from backbone.settings import ServiceSettings

# name -> (HTTP port, gRPC port or 0), as deploy/local/services.py starts them.
LOCAL_PORTS = {"intake": (8101, 0), "dispatch": (8102, 50052), "sla": (8103, 0),
               "feedback": (8104, 0), "analytics": (8105, 0), "audit": (8106, 50056)}
TOKEN_TTL_S = 2 * 86400


@dataclass(frozen=True)
class Endpoints:
    urls: dict[str, str]
    dispatch_grpc: str
    issuer: auth.Issuer  # signs the simulated actors' tokens (the development key)
    kafka_bootstrap: str = "127.0.0.1:19092"
    topic_prefix: str = ""
    _tokens: dict[tuple[str, str, str], str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def local(cls, *, host: str = "127.0.0.1", port_offset: int = 0,
              settings: ServiceSettings | None = None) -> Endpoints:
        """The services on this machine (the demo's ports, or shifted by ``port_offset``)."""
        settings = settings or ServiceSettings()
        urls = {name: f"http://{host}:{http + port_offset}" for name, (http, _) in LOCAL_PORTS.items()}
        return cls(urls=urls, dispatch_grpc=f"{host}:{LOCAL_PORTS['dispatch'][1] + port_offset}",
                   issuer=auth.issuer_for(settings), kafka_bootstrap=settings.kafka_bootstrap,
                   topic_prefix=settings.topic_prefix)

    def with_urls(self, spec: str) -> Endpoints:
        """Override some addresses: ``intake=http://h:1,dispatch-grpc=h:2,...``."""
        urls, grpc = dict(self.urls), self.dispatch_grpc
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, value = part.partition("=")
            if name == "dispatch-grpc":
                grpc = value
            elif name in urls:
                urls[name] = value.rstrip("/")
            else:
                raise ValueError(f"unknown service {name!r} in --base-urls; known: "
                                 f"{', '.join([*urls, 'dispatch-grpc'])}")
        return replace(self, urls=urls, dispatch_grpc=grpc, _tokens={})

    def __getattr__(self, name: str) -> str:
        urls = object.__getattribute__(self, "urls")
        if name in urls:
            return urls[name]
        raise AttributeError(name)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def token(self, role: str, *, sub: str = "", unit: str = "") -> str:
        key = (role, sub, unit)
        if key not in self._tokens:
            self._tokens[key] = auth.mint(self.issuer, sub=sub or unit or role, role=role,
                                          unit=unit, ttl_s=TOKEN_TTL_S)
        return self._tokens[key]

    def bearer(self, role: str, *, sub: str = "", unit: str = "") -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(role, sub=sub, unit=unit)}"}
