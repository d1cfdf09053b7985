"""PTZ (遥控): steering cameras that offer it — drivers per protocol, the one-operator lease, the return of the
camera to its analysis preset (see docs/architecture.md, "PTZ")."""
