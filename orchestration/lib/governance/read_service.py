"""The governed read service: automation teams read shared datasets over HTTP, as the consumer
their token proves (never a name they type).

`GET /v1/datasets/<source>/<table>?columns=a,b&region=eu&format=arrow|parquet|json` with
`Authorization: Bearer <token>` answers with the rows the governed read path returns for that
consumer (an Arrow IPC stream by default, with the decision in its schema metadata and in the
`X-Steward-Decision` header), 401 without a valid token, 403 with the policy's reason and fix,
404 when the dataset is not built, 503 when the PostgreSQL warehouse refuses the consumer's
role (its password is not in the service's environment, or the grants were not applied since
the last build). The stores stay with the service's OS user; so do the keys
that derive each consumer's pseudonyms. Every answer, refusals included, is audited.
"""

from __future__ import annotations

import io
import json
import signal
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit
from urllib.request import Request, urlopen

import pyarrow as pa

from orchestration.lib.governance import audit_log
from orchestration.lib.governance.credentials import NotAuthenticated, authenticate
from orchestration.lib.governance.governed_read import (
    DECISION_METADATA,
    AccessDenied,
    NotBuilt,
    read_dataset,
)
from orchestration.lib.stopping import stop_on_sigterm
from orchestration.lib.warehouse import LoginRefused, NotGranted

ROUTE = "/v1/datasets/"
ARROW, PARQUET, JSON = "arrow", "parquet", "json"
MEDIA_TYPES = {ARROW: "application/vnd.apache.arrow.stream",
               PARQUET: "application/vnd.apache.parquet", JSON: "application/json"}


class ServiceRefused(RuntimeError):
    """The service answered with an error: its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _encoded(table: pa.Table, form: str) -> bytes:
    sink = io.BytesIO()
    if form == ARROW:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    elif form == PARQUET:
        import pyarrow.parquet as pq

        pq.write_table(table, sink)
    else:
        metadata = {key.decode().removeprefix("steward."): json.loads(value)
                    for key, value in (table.schema.metadata or {}).items()
                    if key.startswith(b"steward.")}
        sink.write(json.dumps({**metadata, "rows": table.to_pylist()}, default=str).encode())
    return sink.getvalue()


class _Handler(BaseHTTPRequestHandler):
    server_version = "steward-read/1"

    def do_GET(self) -> None:
        try:
            self._answer()
        except Exception as failure:  # an answer, not a dropped connection; details in the log
            self.log_error("failed: %r", failure)
            self._refuse(HTTPStatus.INTERNAL_SERVER_ERROR,
                         "the read failed inside the service; its log says why")

    def _answer(self) -> None:
        url = urlsplit(self.path)
        if not url.path.startswith(ROUTE):
            self._refuse(HTTPStatus.NOT_FOUND, f"no such route: GET {ROUTE}<source>/<table>")
            return
        dataset = unquote(url.path.removeprefix(ROUTE))
        query = parse_qs(url.query)
        form = query.get("format", [ARROW])[0]
        if form not in MEDIA_TYPES:
            self._refuse(HTTPStatus.BAD_REQUEST, f"format must be one of {', '.join(MEDIA_TYPES)}")
            return
        header = self.headers.get("Authorization", "")
        try:
            credential = authenticate(header.removeprefix("Bearer ").strip()
                                      if header.startswith("Bearer ") else None)
        except NotAuthenticated as refused:
            audit_log.append("access.unauthenticated", dataset, {
                "reason": str(refused), "client": self.client_address[0]})
            self._refuse(HTTPStatus.UNAUTHORIZED, str(refused))
            return
        columns = query["columns"][0].split(",") if "columns" in query else None
        try:
            table = read_dataset(dataset, credential.consumer, columns,
                                 query.get("region") or None, credential=credential.token_id)
        except AccessDenied as denied:
            self._refuse(HTTPStatus.FORBIDDEN, f"denied: {denied}")
            return
        except NotBuilt as missing:
            self._refuse(HTTPStatus.NOT_FOUND, str(missing))
            return
        except (LoginRefused, NotGranted) as refused:
            audit_log.append("access.failed", dataset, {
                "consumer": credential.consumer, "credential": credential.token_id,
                "reason": str(refused)})
            self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, f"the warehouse refused the read: "
                         f"{refused}")
            return
        body = _encoded(table, form)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", MEDIA_TYPES[form])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Steward-Consumer", credential.consumer)
        self.send_header("X-Steward-Decision", table.schema.metadata[DECISION_METADATA].decode())
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", MEDIA_TYPES[JSON])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        # The default prints the path; the token travels in a header, so nothing secret shows.
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def service(host: str, port: int) -> ThreadingHTTPServer:
    """The read service bound to host:port (port 0: any free one); call serve_forever()."""
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    return server


def serve_until_stopped(server: ThreadingHTTPServer) -> None:
    """Serve until Ctrl-C or SIGTERM, then close the socket. Only from the main thread."""
    stop_on_sigterm(signal.default_int_handler)  # SIGTERM as Ctrl-C
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


def fetch(base_url: str, token: str | None, dataset: str, columns: list[str] | None = None,
          regions: list[str] | None = None, timeout: float = 600) -> pa.Table:
    """Read a dataset from the service as the consumer `token` proves (Arrow, with the
    decision in its schema metadata). Raises ServiceRefused with the service's message."""
    query = [("format", ARROW)] + [("region", r) for r in regions or ()]
    if columns:
        query.append(("columns", ",".join(columns)))
    request = Request(f"{base_url.rstrip('/')}{ROUTE}{quote(dataset)}?{urlencode(query)}",
                      headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urlopen(request, timeout=timeout) as answer:
            return pa.ipc.open_stream(answer.read()).read_all()
    except HTTPError as error:
        try:
            message = json.loads(error.read())["error"]
        except (ValueError, KeyError):
            message = error.reason
        raise ServiceRefused(error.code, message) from None
    except (URLError, ConnectionError) as error:
        raise ServiceRefused(0, f"no read service answers at {base_url} "
                                f"({getattr(error, 'reason', error)}); start one with "
                                "`steward serve`") from None
