"""Certificates for the tests' RTSPS servers, made with the openssl command line.

A private CA signing a server certificate (the CA-file case), a self-signed certificate
(the pinned-fingerprint case), and the fingerprint in the form MediaMTX's documentation
prints (`openssl x509 -fingerprint -sha256`, colons and all).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.harness.errors import HarnessError


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path

    def fingerprint(self) -> str:
        """`SHA256 Fingerprint=AB:CD:...` as openssl prints it, the value only."""
        out = _openssl("x509", "-in", str(self.cert), "-noout", "-fingerprint", "-sha256")
        return out.strip().split("=", 1)[1]


def _openssl(*args: str) -> str:
    done = subprocess.run(
        ["openssl", *args], check=False, capture_output=True, text=True, timeout=30
    )
    if done.returncode != 0:
        raise HarnessError(f"openssl {args[0]} failed: {done.stderr.strip()[-400:]}")
    return done.stdout


def _key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-out", str(path))  # fmt: skip


def _san(names: tuple[str, ...]) -> str:
    return ",".join(f"IP:{n}" if n[0].isdigit() else f"DNS:{n}" for n in names)


def self_signed(directory: Path, name: str, names: tuple[str, ...] = ("127.0.0.1",)) -> CertPair:
    directory.mkdir(parents=True, exist_ok=True)
    pair = CertPair(directory / f"{name}.crt", directory / f"{name}.key")
    _key(pair.key)
    _openssl("req", "-x509", "-key", str(pair.key), "-out", str(pair.cert), "-days", "7",
             "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={_san(names)}")  # fmt: skip
    return pair


def ca(directory: Path, name: str = "test-ca") -> CertPair:
    directory.mkdir(parents=True, exist_ok=True)
    pair = CertPair(directory / f"{name}.crt", directory / f"{name}.key")
    _key(pair.key)
    _openssl("req", "-x509", "-key", str(pair.key), "-out", str(pair.cert), "-days", "7",
             "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    return pair


def signed(authority: CertPair, directory: Path, name: str, names: tuple[str, ...]) -> CertPair:
    """A server certificate for `names`, signed by `authority`."""
    directory.mkdir(parents=True, exist_ok=True)
    pair = CertPair(directory / f"{name}.crt", directory / f"{name}.key")
    _key(pair.key)
    request = directory / f"{name}.csr"
    _openssl("req", "-new", "-key", str(pair.key), "-out", str(request), "-subj", f"/CN={names[0]}")
    extensions = directory / f"{name}.ext"
    extensions.write_text(
        f"subjectAltName={_san(names)}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("x509", "-req", "-in", str(request), "-CA", str(authority.cert),
             "-CAkey", str(authority.key), "-CAcreateserial", "-out", str(pair.cert),
             "-days", "7", "-extfile", str(extensions))  # fmt: skip
    return pair
