"""The certificate doctor: `python -m mtls doctor URL --cert --key --ca`.

A tool beside the runtime, not part of it: it checks the local files
(`local`, `trust`), then walks the connection step by step (`remote`, `http`),
and ends with one verdict in plain words (`verdict`, `report`). Every fact it
reads from a certificate comes from `mtls.certfacts`, the server's own reader,
so the doctor and the server cannot disagree about a certificate.
"""

from mtls.doctor.diagnose import DoctorError, Options, diagnose, examine
from mtls.doctor.report import Report, render

__all__ = ["DoctorError", "Options", "Report", "diagnose", "examine", "render"]
