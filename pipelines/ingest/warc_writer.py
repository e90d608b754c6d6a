"""The crawler's fetches as WARC/1.1: a request and a response record per fetch with an HTTP answer (warcio,
gzip per record), record ids derived from what was fetched so a repeated crawl gives the same archive."""
from __future__ import annotations

import hashlib
import io
import urllib.parse
import uuid

from pipelines.ingest.fetch import USER_AGENT, Fetch

# Headers whose values describe the wire form, not the body we store (urllib de-chunks): renamed so a WARC
# reader does not try to de-chunk or length-check the stored payload again.
_WIRE_HEADERS = {"transfer-encoding"}


class WarcRecorder:
    """Writes each fetch with an HTTP answer as a WARC/1.1 request + response pair (gzip per record)."""

    def __init__(self, fileobj, software: str = USER_AGENT):
        from warcio.warcwriter import WARCWriter

        self._writer = WARCWriter(fileobj, gzip=True, warc_version="WARC/1.1")
        info = self._writer.create_warcinfo_record(
            "", {"software": f"winnow crawl ({software})", "format": "WARC File Format 1.1",
                 "robots": "obey", "http-header-user-agent": software})
        self._writer.write_record(info)
        self.records = 1

    def write(self, fetch: Fetch) -> None:
        from warcio.statusandheaders import StatusAndHeaders

        if fetch.status is None or fetch.skipped:
            return
        parts = urllib.parse.urlsplit(fetch.url)
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        req_headers = StatusAndHeaders(f"GET {path} HTTP/1.1", [("Host", parts.netloc)] + fetch.request_headers,
                                       protocol="", is_http_request=True)
        resp_headers = [(("X-Crawler-" + k) if k.lower() in _WIRE_HEADERS else k, v) for k, v in fetch.headers]
        http = StatusAndHeaders(f"{fetch.status} {fetch.reason}".strip(), resp_headers, protocol="HTTP/1.1")
        # Record ids from what was fetched, not random UUIDs: document ids derive from them, so the same
        # crawl of the same site gives the same documents and byte-identical shards.
        digest = hashlib.sha256(fetch.body).hexdigest()
        warc_headers = {"WARC-Record-ID": _record_id("response", fetch.url, fetch.status, digest)}
        if fetch.truncated:
            warc_headers["WARC-Truncated"] = "length"
        response = self._writer.create_warc_record(fetch.url, "response", payload=io.BytesIO(fetch.body),
                                                   http_headers=http, warc_headers_dict=warc_headers)
        request = self._writer.create_warc_record(
            fetch.url, "request", payload=io.BytesIO(b""), http_headers=req_headers,
            warc_headers_dict={"WARC-Record-ID": _record_id("request", fetch.url, fetch.status, digest)})
        request.rec_headers.add_header("WARC-Concurrent-To", response.rec_headers.get_header("WARC-Record-ID"))
        self._writer.write_record(request)
        self._writer.write_record(response)
        self.records += 2


def _record_id(record_type: str, url: str, status, payload_sha256: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{record_type} {status} {url} {payload_sha256}')}>"
