"""A small S3 reader for the client API: GET and list with SigV4, from the
standard library only, configured by the usual AWS environment variables
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION``)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import os
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from ._errors import MfwError

_EMPTY = hashlib.sha256(b"").hexdigest()


def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class S3:
    """Reads objects of one bucket.

    >>> S3("s3://bucket/team").prefix
    'team'
    """

    def __init__(self, url: str):
        rest = url.split("://", 1)[1]
        self.bucket, _, prefix = rest.partition("/")
        self.prefix = prefix.strip("/")
        self.region = (
            os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        )
        endpoint = next(
            (
                os.environ[v]
                for v in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
                if os.environ.get(v)
            ),
            None,
        )
        # A custom endpoint (MinIO...) takes path-style requests.
        if endpoint:
            self.base = endpoint.rstrip("/") + "/" + self.bucket
        else:
            self.base = f"https://{self.bucket}.s3.{self.region}.amazonaws.com"
        self.access_key = os.environ.get("AWS_ACCESS_KEY_ID", "")
        self.secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        self.token = os.environ.get("AWS_SESSION_TOKEN")

    def _key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def _request(
        self, path: str, query: dict[str, str], extra: dict[str, str] | None = None
    ) -> bytes | None:
        url = urllib.parse.urlsplit(self.base)
        raw_path = url.path + "/" + path if path else url.path or "/"
        canonical_path = urllib.parse.quote(raw_path, safe="/-_.~")
        canonical_query = "&".join(
            f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
            for k, v in sorted(query.items())
        )
        now = datetime.datetime.now(datetime.UTC)
        stamp, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        headers = {"host": url.netloc, "x-amz-content-sha256": _EMPTY, "x-amz-date": stamp}
        if self.token:
            headers["x-amz-security-token"] = self.token
        signed = ";".join(sorted(headers))
        canonical = "\n".join(
            [
                "GET",
                canonical_path,
                canonical_query,
                "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
                signed,
                _EMPTY,
            ]
        )
        scope = f"{date}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = ("AWS4" + self.secret_key).encode()
        for part in (date, self.region, "s3", "aws4_request"):
            key = _sign(key, part)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        target = f"{url.scheme}://{url.netloc}{canonical_path}"
        if canonical_query:
            target += "?" + canonical_query
        # Headers the signature need not cover (a byte range).
        headers.update(extra or {})
        request = urllib.request.Request(target, headers=headers, method="GET")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.read()
        except urllib.error.HTTPError as e:
            if e.code == 404 and b"NoSuchBucket" not in e.read():
                return None
            raise MfwError(f"s3://{self.bucket}: {e.code} {e.reason}") from None
        except urllib.error.URLError as e:
            raise MfwError(f"cannot reach s3://{self.bucket} at {self.base}: {e.reason}") from None

    def read(self, path: str) -> bytes | None:
        """The object at `path` under the prefix, or None."""
        return self._request(self._key(path), {})

    def read_range(self, path: str, start: int, end: int) -> bytes | None:
        """Bytes `start` to `end` (excluded) of the object at `path`, or None."""
        return self._request(self._key(path), {}, {"Range": f"bytes={start}-{end - 1}"})

    def _list(self, path: str) -> tuple[list[str], list[str]]:
        prefix = self._key(path).rstrip("/") + "/"
        dirs, files, token = [], [], None
        ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
        while True:
            query = {"list-type": "2", "prefix": prefix, "delimiter": "/"}
            if token:
                query["continuation-token"] = token
            body = self._request("", query) or b""
            root = ET.fromstring(body)
            for p in root.iter(f"{ns}CommonPrefixes"):
                dirs.append(p.findtext(f"{ns}Prefix", "")[len(prefix) :].rstrip("/"))
            for c in root.iter(f"{ns}Contents"):
                files.append(c.findtext(f"{ns}Key", "")[len(prefix) :])
            if root.findtext(f"{ns}IsTruncated") != "true":
                return dirs, files
            token = root.findtext(f"{ns}NextContinuationToken")

    def dirs(self, path: str) -> list[str]:
        """The names of the 'directories' directly under `path`."""
        return self._list(path)[0]

    def files(self, path: str) -> list[str]:
        """The names of the objects directly under `path`."""
        return self._list(path)[1]
