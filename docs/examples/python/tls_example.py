"""Strata from Python over TLS with credentials (grpcio, stubs from proto/).

Run it with run_example.sh tls_example.py against a server started with TLS
and auth on, for example:

    strata certs dev --out certs
    STRATA_ADMIN_PASSWORD=change-me strata serve \\
        --tls-cert certs/server.pem --tls-key certs/server.key
    STRATA_ADDR=localhost:2113 STRATA_TLS_CA=certs/ca.pem \\
        STRATA_ADMIN_PASSWORD=change-me docs/examples/python/run_example.sh tls_example.py

It shows:

- a TLS channel trusting the dev CA, with HTTP basic credentials added to
  every call (as KurrentDB clients send them);
- who the server takes us for (Security.WhoAmI);
- an admin adding a user and granting it `read` on a stream prefix;
- that user reading what it may read, and being refused (PERMISSION_DENIED,
  `strata-error: access-denied`) elsewhere and on writes;
- a wrong password refused with UNAUTHENTICATED `authentication-failed`;
- a bearer token created for the user and used instead of a password.

Every result is checked; any mismatch exits non-zero.
"""

import base64
import os
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))

import grpc  # noqa: E402
from strata.v1 import security_pb2 as sec  # noqa: E402
from strata.v1 import security_pb2_grpc as sec_grpc  # noqa: E402
from strata.v1 import streams_pb2 as pb  # noqa: E402
from strata.v1 import streams_pb2_grpc as pb_grpc  # noqa: E402

ADDR = os.environ.get("STRATA_ADDR", "localhost:2113")
CA = os.environ["STRATA_TLS_CA"]
ADMIN_PASSWORD = os.environ["STRATA_ADMIN_PASSWORD"]
# The name the server's certificate must carry, when ADDR is an IP address
# (the dev certificate names localhost; dialling 127.0.0.1 avoids trying
# ::1 first on hosts where localhost resolves to both).
SERVER_NAME = os.environ.get("STRATA_TLS_SERVER_NAME")
TIMEOUT = 10  # seconds per call
CONNECT_TIMEOUT = 30  # seconds for the first connection (TLS handshake)


def check(cond, what):
    """Fails the example (exit 1) unless `cond` holds."""
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


class Header(grpc.AuthMetadataPlugin):
    """Adds one `authorization` header to every call."""

    def __init__(self, value):
        self.value = value

    def __call__(self, context, callback):
        callback((("authorization", self.value),), None)


def basic(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return Header(f"Basic {token}")


def channel(header):
    """A TLS channel trusting the CA, sending `header` on every call."""
    with open(CA, "rb") as f:
        tls = grpc.ssl_channel_credentials(root_certificates=f.read())
    creds = grpc.composite_channel_credentials(tls, grpc.metadata_call_credentials(header))
    options = [("grpc.ssl_target_name_override", SERVER_NAME)] if SERVER_NAME else []
    ch = grpc.secure_channel(ADDR, creds, options=options)
    grpc.channel_ready_future(ch).result(timeout=CONNECT_TIMEOUT)
    return ch


def refused(call, code, kind, what):
    """Checks that `call()` fails with `code` and strata-error `kind`."""
    try:
        call()
    except grpc.RpcError as err:
        got = dict(err.trailing_metadata() or ()).get("strata-error")
        check(err.code() == code and got == kind, f"{what}: {err.code()} {got} {err.details()}")
        return
    check(False, f"{what} succeeded")


def event(event_type):
    return pb.ProposedEvent(id=str(uuid.uuid4()), type=event_type,
                            content_type="application/json", data=b"{}")


def main():
    run = uuid.uuid4().hex[:12]
    reader, password = f"py-reader-{run}", f"pw-{run}-secret"
    orders, secret = f"py-{run}-orders-1", f"py-{run}-secret-1"

    admin = channel(basic("admin", ADMIN_PASSWORD))
    me = sec_grpc.SecurityStub(admin).WhoAmI(sec.WhoAmIRequest(), timeout=TIMEOUT)
    check(me.name == "admin" and "admin" in me.roles and me.auth_enabled, f"whoami {me}")
    print(f"connected over TLS to {ADDR} as {me.name}")

    # An admin writes two streams, adds a user, and lets it read one prefix.
    streams = pb_grpc.StreamsStub(admin)
    for s in (orders, secret):
        streams.Append(pb.AppendRequest(stream=s, events=[event("Created")]), timeout=TIMEOUT)
    security = sec_grpc.SecurityStub(admin)
    security.AddUser(sec.AddUserRequest(name=reader, password=password), timeout=TIMEOUT)
    security.Grant(sec.GrantRequest(principal=f"user:{reader}", stream_prefix=f"py-{run}-orders-",
                                    permissions=[sec.PERMISSION_READ]), timeout=TIMEOUT)

    # The user reads what it may, and nothing else.
    as_reader = pb_grpc.StreamsStub(channel(basic(reader, password)))
    pages = as_reader.Read(pb.ReadRequest(stream=orders), timeout=TIMEOUT)
    check(sum(len(p.events) for p in pages) == 1, "the reader reads its stream")
    refused(lambda: list(as_reader.Read(pb.ReadRequest(stream=secret), timeout=TIMEOUT)),
            grpc.StatusCode.PERMISSION_DENIED, "access-denied", "reading another prefix")
    refused(lambda: as_reader.Append(pb.AppendRequest(stream=orders, events=[event("X")]),
                                     timeout=TIMEOUT),
            grpc.StatusCode.PERMISSION_DENIED, "access-denied", "writing without a grant")
    print("a read grant reads its prefix only")

    # A wrong password: UNAUTHENTICATED, the same answer as an unknown user.
    wrong = pb_grpc.StreamsStub(channel(basic(reader, "not-the-password")))
    refused(lambda: wrong.ServerInfo(pb.ServerInfoRequest(), timeout=TIMEOUT),
            grpc.StatusCode.UNAUTHENTICATED, "authentication-failed", "a wrong password")

    # A bearer token instead of a password.
    token = security.CreateToken(sec.CreateTokenRequest(user=reader, expires_in_seconds=600),
                                 timeout=TIMEOUT)
    by_token = sec_grpc.SecurityStub(channel(Header(f"Bearer {token.token}")))
    who = by_token.WhoAmI(sec.WhoAmIRequest(), timeout=TIMEOUT)
    check(who.name == reader, f"the token is {reader}'s: {who}")
    security.RevokeToken(sec.RevokeTokenRequest(id=token.id), timeout=TIMEOUT)
    refused(lambda: by_token.WhoAmI(sec.WhoAmIRequest(), timeout=TIMEOUT),
            grpc.StatusCode.UNAUTHENTICATED, "authentication-failed", "a revoked token")
    print("bearer tokens work until revoked")
    print("tls_example.py: all checks passed")


if __name__ == "__main__":
    main()
