"""``lunglens pacs echo|find|get|send|add``: the PACS from the command line (see inference.pacs).

    lunglens pacs add orthanc --host 127.0.0.1 --port 4242 --called-ae ORTHANC
    lunglens pacs echo orthanc
    lunglens pacs find orthanc --patient-id P001 --date 20200101-20201231 --modality CT
    lunglens pacs get orthanc STUDY_UID          # into the local study store; prints the folder
    lunglens analyze FOLDER --dicom-out RESULTS
    lunglens pacs send orthanc RESULTS
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inference.pacs.servers import PacsError, PacsServer, find_server, save_server

HELP = "query, retrieve from and send results to a PACS (DIMSE): echo, find, get, send, add"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add or change a server in the user settings")
    add.add_argument("server")
    add.add_argument("--host", default="127.0.0.1")
    add.add_argument("--port", type=int, default=104)
    add.add_argument("--called-ae", default="ORTHANC")
    add.add_argument("--calling-ae", default="LUNGLENS")
    add.add_argument("--dicomweb-url", default="")
    add.add_argument("--timeout", type=float, default=30.0)
    sub.add_parser("echo", help="C-ECHO: is the server there and does it accept us").add_argument("server")
    find = sub.add_parser("find", help="C-FIND studies (and with --study, its series)")
    find.add_argument("server")
    find.add_argument("--patient-name", default="")
    find.add_argument("--patient-id", default="")
    find.add_argument("--date", default="", help="YYYYMMDD or a range YYYYMMDD-YYYYMMDD")
    find.add_argument("--modality", default="")
    find.add_argument("--study", default="", help="list this study's series")
    get = sub.add_parser("get", help="C-GET a study into the local study store (a retry resumes)")
    get.add_argument("server")
    get.add_argument("study_uid")
    send = sub.add_parser("send", help="C-STORE DICOM files (e.g. an analyze --dicom-out folder)")
    send.add_argument("server")
    send.add_argument("paths", nargs="+", type=Path)


def _run(args: argparse.Namespace) -> None:
    from inference.pacs import dimse
    from inference.pacs.store import stored_study

    if args.action == "add":
        save_server(PacsServer(args.server, args.host, args.port, args.called_ae, args.calling_ae, args.dicomweb_url, args.timeout))
        print(f"saved {args.server}")
        return
    server = find_server(args.server)
    if args.action == "echo":
        dimse.echo(server)
        print(f"{server.name}: C-ECHO ok ({server.called_ae} at {server.host}:{server.port})")
    elif args.action == "find" and args.study:
        for s in dimse.find_series(server, args.study, args.modality):
            print(f"{s.SeriesInstanceUID}  {s.get('Modality', '')}  {s.get('SeriesDescription', '')}  {s.get('NumberOfSeriesRelatedInstances', '')}")
    elif args.action == "find":
        query = dimse.StudyQuery(args.patient_name, args.patient_id, args.date, args.modality)
        for s in dimse.find_studies(server, query):
            print(f"{s.StudyInstanceUID}  {s.get('PatientID', '')}  {s.get('StudyDate', '')}  {s.get('ModalitiesInStudy', '')}  {s.get('StudyDescription', '')}")
    elif args.action == "get":
        store = stored_study(args.study_uid)
        count = dimse.get_study(server, args.study_uid, store,
                                lambda done, total: print(f"\rretrieving {done}/{total}", end="", file=sys.stderr))
        print(f"\n{store.folder}  {store.status()}, {count} received now")
    elif args.action == "send":
        files = [p for path in args.paths for p in (sorted(path.rglob("*.dcm")) if path.is_dir() else [path])]
        print(f"{server.name}: stored {dimse.send(server, files)} object(s)")


def run(args: argparse.Namespace) -> int:
    try:
        _run(args)
    except PacsError as exc:
        print(f"lunglens pacs: {exc}", file=sys.stderr)
        return 1
    return 0
