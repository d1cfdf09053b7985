"""Editing a site's configuration from the admin console: cameras.yaml and analytics.yaml stay the one source of
truth, written back with their comments, checked by the same models as ``citywall serve``, applied to the running
service without a restart.

- ``roundtrip``: read, merge and atomically write YAML with ruamel.yaml, keeping comments, anchors and layout.
- ``checks``: a proposed value → its model, or every problem as ``key.path: reason``.
- ``cameras_file`` / ``rules_file``: one camera's entry in cameras.yaml, one camera's rules in analytics.yaml.
- ``rule_try``: a camera's last minutes from its packet ring through ``vision.replay.Replay`` with proposed rules.
- ``apply``: a saved camera into the running hub, analytics and services.
"""
