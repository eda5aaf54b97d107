"""``lunglens pacs echo|find|get|send|add``: the PACS from the command line (see inference.pacs).

    lunglens pacs add orthanc --host 127.0.0.1 --port 4242 --called-ae ORTHANC
    lunglens pacs echo orthanc
    lunglens pacs find orthanc --patient-id P001 --date 20200101-20201231 --modality CT
    lunglens pacs get orthanc STUDY_UID          # into the local study store; prints the folder
    lunglens analyze FOLDER --dicom-out RESULTS
    lunglens pacs send orthanc RESULTS

Each server talks DIMSE (C-GET, or C-MOVE with ``--retrieve C-MOVE``) or DICOMweb (``--transport dicomweb``),
over TLS with ``--tls`` (DIMSE) or an https:// URL, trusting ``--ca-certificate`` (see inference.pacs.tls).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inference.pacs.servers import PacsError, PacsServer, RetrieveMethod, Transport, find_server, save_server

HELP = "query, retrieve from and send results to a PACS (DIMSE or DICOMweb): echo, find, get, send, add"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add or change a server in the user settings")
    add.add_argument("server")
    add.add_argument("--host", default="127.0.0.1")
    add.add_argument("--port", type=int, default=104)
    add.add_argument("--called-ae", default="ORTHANC")
    add.add_argument("--calling-ae", default="LUNGLENS")
    add.add_argument("--dicomweb-url", default="", help="e.g. http://127.0.0.1:8042/dicom-web")
    add.add_argument("--timeout", type=float, default=30.0)
    add.add_argument("--transport", choices=[t.value for t in Transport], default=Transport.DIMSE.value)
    add.add_argument("--retrieve", choices=[r.value for r in RetrieveMethod], default=RetrieveMethod.GET.value,
                     help="C-MOVE needs the PACS to know LungLens (calling AE, this computer, --storage-port)")
    add.add_argument("--storage-port", type=int, default=11113, help="where LungLens listens during a C-MOVE")
    tls = add.add_argument_group("TLS", "DICOM TLS with --tls; DICOMweb over TLS with an https:// URL")
    tls.add_argument("--tls", action="store_true", help="the server's DICOM port speaks TLS")
    tls.add_argument("--ca-certificate", default="", metavar="PEM",
                     help="the CA certificate(s) the server's certificate is signed by (default: the system's)")
    tls.add_argument("--client-certificate", default="", metavar="PEM", help="LungLens's certificate, for servers that want one")
    tls.add_argument("--client-key", default="", metavar="PEM", help="its private key, unless in the certificate's file")
    tls.add_argument("--no-verify", dest="verify", action="store_false",
                     help="do not check the server's certificate (only to diagnose; anyone could stand in for the server)")
    sub.add_parser("echo", help="is the server there and does it accept us (C-ECHO, or a DICOMweb search)").add_argument("server")
    find = sub.add_parser("find", help="find studies (and with --study, its series)")
    find.add_argument("server")
    find.add_argument("--patient-name", default="")
    find.add_argument("--patient-id", default="")
    find.add_argument("--date", default="", help="YYYYMMDD or a range YYYYMMDD-YYYYMMDD")
    find.add_argument("--modality", default="")
    find.add_argument("--study", default="", help="list this study's series")
    get = sub.add_parser("get", help="retrieve a study into the local study store (a retry resumes)")
    get.add_argument("server")
    get.add_argument("study_uid")
    send = sub.add_parser("send", help="send DICOM files (e.g. an analyze --dicom-out folder)")
    send.add_argument("server")
    send.add_argument("paths", nargs="+", type=Path)


def _run(args: argparse.Namespace) -> None:
    from inference.pacs.connection import connect
    from inference.pacs.query import StudyQuery
    from inference.pacs.store import stored_study

    if args.action == "add":
        save_server(PacsServer(args.server, args.host, args.port, args.called_ae, args.calling_ae, args.dicomweb_url,
                               args.timeout, args.transport, args.retrieve, args.storage_port, args.tls,
                               *(str(Path(p).resolve()) if p else "" for p in (args.ca_certificate, args.client_certificate,
                                                                                args.client_key)),
                               args.verify))
        print(f"saved {args.server}")
        return
    pacs = connect(find_server(args.server))
    if args.action == "echo":
        pacs.echo()
        print(f"{pacs.server.name}: echo ok ({pacs.server.describe()})")
    elif args.action == "find" and args.study:
        for s in pacs.find_series(args.study, args.modality):
            print(f"{s.series_uid}  {s.modality}  {s.description}  {'' if s.instances is None else s.instances}")
    elif args.action == "find":
        for s in pacs.find_studies(StudyQuery(args.patient_name, args.patient_id, args.date, args.modality)):
            print(f"{s.study_uid}  {s.patient_id}  {s.study_date}  {s.modalities}  {s.description}")
    elif args.action == "get":
        store = stored_study(args.study_uid)
        count = pacs.retrieve(args.study_uid, store,
                              lambda done, total: print(f"\rretrieving {done}/{total}", end="", file=sys.stderr))
        print(f"\n{store.folder}  {store.status()}, {count} received now")
    elif args.action == "send":
        files = [p for path in args.paths for p in (sorted(path.rglob("*.dcm")) if path.is_dir() else [path])]
        print(f"{pacs.server.name}: stored {pacs.send(files)} object(s)")


def run(args: argparse.Namespace) -> int:
    try:
        _run(args)
    except PacsError as exc:
        print(f"lunglens pacs: {exc}", file=sys.stderr)
        return 1
    return 0
