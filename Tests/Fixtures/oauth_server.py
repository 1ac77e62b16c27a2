"""An OAuth 2.1 authorization server built on authlib, for the OAuth client credentials tests.

usage: oauth_server.py PORT --record DIR [--issuer-path /PATH] [--expires-in SECONDS]
                       [--auth-methods M1,M2] [--scopes-supported "S1 S2"]
                       --client JSON [--client JSON ...]
  --record:            one JSON file per token request (token-NNNN.json: client, auth method,
                       grant type, scope, resource, status) so tests can count them
  --issuer-path:       the issuer is http://127.0.0.1:PORT/PATH; its RFC 8414 metadata is then at
                       /.well-known/oauth-authorization-server/PATH (path insertion)
  --expires-in:        the life of an access token (default 3600)
  --auth-methods:      token_endpoint_auth_methods_supported (default: all three)
  --client:            {"id": ..., "method": "client_secret_basic|client_secret_post|private_key_jwt",
                        "secret": ..., "public_key_pem": ..., "scopes": "allowed scopes"}

Endpoints: the metadata; POST {issuer}/token (authlib's ClientCredentialsGrant, with
client_secret_basic, client_secret_post and private_key_jwt, RFC 7523); POST
{issuer}/introspect (RFC 7662, unauthenticated: a fixture's resource server asks it).
SIGUSR1 is the tests' lever: every token issued so far stops working (revoked.json says
it is done).

A token request must carry `resource` (RFC 8707): the token is bound to it, and the
introspection answer names it as `aud`. The granted scope is the requested one narrowed to
the client's allowed scopes. The server exits when its parent process does.
"""
import json
import os
import secrets
import signal
import sys
import time

os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # loopback http in the tests

import uvicorn
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import ECKey, RSAKey
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from fixture_support import exit_with_parent, write_json

port = int(sys.argv[1])
options = sys.argv[2:]


def option(name, default=None):
    return options[options.index(name) + 1] if name in options else default


def all_options(name):
    return [options[i + 1] for i, value in enumerate(options) if value == name]


exit_with_parent()
record = option("--record")
os.makedirs(record, exist_ok=True)
issuer = f"http://127.0.0.1:{port}" + option("--issuer-path", "")
expires_in = int(option("--expires-in", "3600"))
auth_methods = option("--auth-methods", "client_secret_basic,client_secret_post,private_key_jwt").split(",")
scopes_supported = option("--scopes-supported", "mcp:tools mcp:admin").split()
token_url = issuer + "/token"
tokens = {}  # access token -> {client_id, scope, resource, exp}
requests_seen = 0


class Client(ClientMixin):
    def __init__(self, spec):
        self.client_id = spec["id"]
        self.method = spec["method"]
        self.secret = spec.get("secret")
        self.public_key_pem = spec.get("public_key_pem")
        self.scopes = spec.get("scopes", " ".join(scopes_supported)).split()

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        return self.secret is not None and secrets.compare_digest(client_secret, self.secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method == self.method

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type == "client_credentials"


clients = {spec["id"]: Client(spec) for spec in map(json.loads, all_options("--client"))}


class PrivateKeyJWT(JWTBearerClientAssertion):
    """RFC 7523 client authentication, under its registered name."""

    CLIENT_AUTH_METHOD = "private_key_jwt"
    used_jtis = set()

    def get_audiences(self):
        return [token_url, issuer]

    def validate_jti(self, claims, jti):
        if jti in self.used_jtis:
            return False
        self.used_jtis.add(jti)
        return True

    def resolve_client_public_key(self, client):
        # An EC key (ES256) or an RSA key (RS256): whichever the PEM holds.
        try:
            return ECKey.import_key(client.public_key_pem)
        except Exception:
            return RSAKey.import_key(client.public_key_pem)


class Grant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


class Server(AuthorizationServer):
    def query_client(self, client_id):
        return clients.get(client_id)

    def save_token(self, token, request):
        tokens[token["access_token"]] = {
            "client_id": request.client.get_client_id(),
            "scope": token.get("scope", ""),
            "resource": request.form.get("resource"),
            "exp": time.time() + expires_in,
        }

    def send_signal(self, name, *args, **kwargs):
        pass

    def create_oauth2_request(self, request):
        return request

    def handle_response(self, status, body, headers):
        return JSONResponse(body, status_code=status, headers=dict(headers))


class FormRequest(OAuth2Request):
    def __init__(self, method, uri, headers, form):
        super().__init__(method=method, uri=uri, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @property
    def form(self):
        return self._form

    @property
    def args(self):
        return {}


def generate_token(grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True):
    # Narrowed to what the client may have (authlib leaves that to the application).
    granted = client.get_allowed_scope(scope) if scope else " ".join(client.scopes)
    return {"token_type": "Bearer", "access_token": secrets.token_urlsafe(24), "expires_in": globals()["expires_in"], "scope": granted}


server = Server(scopes_supported=scopes_supported)
server.register_grant(Grant)
server.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT())
server.register_token_generator("default", generate_token)


def metadata(request):
    return JSONResponse({
        "issuer": issuer,
        "token_endpoint": token_url,
        "introspection_endpoint": issuer + "/introspect",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
        "scopes_supported": scopes_supported,
    })


def auth_method_of(headers, form):
    if headers.get("authorization", "").lower().startswith("basic "):
        return "client_secret_basic"
    if "client_assertion" in form:
        return "private_key_jwt"
    if "client_secret" in form:
        return "client_secret_post"
    return "none"


async def token(request):
    global requests_seen
    form = dict(await request.form())
    oauth_request = FormRequest(request.method, str(request.url), request.headers, form)
    if not form.get("resource"):
        response = JSONResponse({"error": "invalid_target", "error_description": "resource is required"}, status_code=400)
    else:
        response = server.create_token_response(oauth_request)
    body = json.loads(response.body)
    requests_seen += 1
    write_json(os.path.join(record, f"token-{requests_seen:04d}.json"), {
        "at": time.time(),
        "client_id": oauth_request.client.get_client_id() if oauth_request.client else form.get("client_id"),
        "auth_method": auth_method_of(request.headers, form),
        "grant_type": form.get("grant_type"),
        "scope": form.get("scope"),
        "resource": form.get("resource"),
        "status": response.status_code,
        "granted_scope": body.get("scope"),
        "error": body.get("error"),
    })
    return response


async def introspect(request):
    form = await request.form()
    info = tokens.get(form.get("token", ""))
    if info is None or time.time() >= info["exp"]:
        return JSONResponse({"active": False})
    return JSONResponse({"active": True, "client_id": info["client_id"], "scope": info["scope"], "aud": info["resource"], "exp": int(info["exp"])})


def revoke_all(signum, frame):
    tokens.clear()
    write_json(os.path.join(record, "revoked.json"), {"at": time.time()})


signal.signal(signal.SIGUSR1, revoke_all)
# A child may inherit SIGUSR1 blocked (the test runner's threads block signals).
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})


path = option("--issuer-path", "")
routes = [
    Route("/.well-known/oauth-authorization-server" + path, metadata),
    Route(path + "/token", token, methods=["POST"]),
    Route(path + "/introspect", introspect, methods=["POST"]),
]
uvicorn.run(Starlette(routes=routes), host="127.0.0.1", port=port, log_level="warning")
