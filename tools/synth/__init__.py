"""Procedural road-scene generator producing YOLO-format datasets.

Used to give the bundled demo model examples of hazard classes for which we have no
real, redistributable photos (cracks, manholes), and to render README samples.
"""

from tools.synth.scene import CLASS_NAMES, SceneSample, render_scene

__all__ = ["CLASS_NAMES", "SceneSample", "render_scene"]
