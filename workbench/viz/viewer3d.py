"""WebGL point-cloud viewer for notebooks: k3d, with positions and colours sent as binary.

Why k3d: it is maintained, ships its front end inside the Python package (anywidget, served
from the kernel, so JupyterLab 4 needs no extension and no network), draws millions of points,
and sends ``float32`` positions and ``uint32`` colours as raw binary buffers; a widget change
costs the numpy work below plus a memcpy, not one ``"rgb(r,g,b)"`` string per point as plotly
did (13 s at 50k points, 45 s at 200k). ``benchmarks/viewer.py`` measures the kernel side.

Frames: points are in the world frame of the README's *Geometry convention* (y down, metres). The
viewer shows
``(x, z, -y)`` so that up is up on screen; axis labels say so. Heights (colour mode, ceiling
cut) are metres above the floor found in the cloud (:func:`floor_level`).

Colour ranges and the initial framing come from robust percentiles (2nd-98th) of the points
inside the cuts, so a few far points seen through windows set neither; ranges that are not
finite, not positive or at the encoding's largest value (a saturated sensor) are never drawn.

Pure functions (:func:`select_points`, :func:`point_colors_u32`, :func:`frustum_lines`,
:func:`legend_html`, :func:`view_camera`, :func:`overview_camera`) do the work and are tested
without a browser; :class:`CloudViewer` only moves their results into k3d.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import k3d
import numpy as np

from workbench.errors import WorkbenchError
from workbench.geometry.equirect import valid_mask
from workbench.geometry.pointcloud import rgbd_to_pointcloud

__all__ = [
    "COLOR_MODES",
    "CloudLayers",
    "CloudViewer",
    "cloud_layers",
    "floor_level",
    "drawable",
    "frustum_lines",
    "legend_html",
    "overview_camera",
    "point_colors_u32",
    "robust_limits",
    "select_points",
    "to_display",
    "turbo_u32",
    "view_camera",
]

COLOR_MODES = ("rgb", "range", "normal", "height", "error")
_TURBO = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_TURBO)[:, 0, ::-1]
_TURBO_U32 = (
    (_TURBO[:, 0].astype(np.uint32) << 16) | (_TURBO[:, 1].astype(np.uint32) << 8) | _TURBO[:, 2]
)
NO_VALUE_U32 = np.uint32(0x9E9E9E)  # grey: a point without a value in this colour mode
_LEGEND_TITLES = {
    "range": "range from its camera",
    "height": "height above the floor",
    "error": "|prediction − ground truth|",
}


def drawable(range_m: np.ndarray, saturated_m: float = np.inf) -> np.ndarray:
    """Mask of ranges a viewer may draw: finite, positive and below ``saturated_m`` (the
    encoding's largest value in metres, e.g. ``65535 / 512`` for Stanford2D3D's PNG: a
    saturated or sentinel reading, never a measurement).

    >>> drawable(np.float32([2.0, 0, -1, np.nan, np.inf, 128.0]), saturated_m=65535 / 512).tolist()
    [True, False, False, False, False, False]
    """
    r = np.asarray(range_m, np.float32)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(r) & (r > 0)
        if np.isfinite(saturated_m):
            keep &= r < np.float32(saturated_m) * np.float32(1 - 1e-6)
    return keep


def robust_limits(values: np.ndarray, percentiles=(2.0, 98.0)) -> tuple[float, float]:
    """``(lo, hi)`` percentiles of the finite ``values`` (``(0, 1)`` when there is none;
    ``hi > lo`` always, so a colour scale never divides by zero).

    >>> robust_limits(np.r_[np.linspace(1, 2, 98), 500.0, np.nan], (0, 98))
    (1.0, 2.0)
    """
    v = np.asarray(values, np.float32)
    v = v[np.isfinite(v)]
    if not len(v):
        return 0.0, 1.0
    lo, hi = (float(x) for x in np.percentile(v, percentiles))
    return lo, max(hi, lo + 1e-3)


def legend_html(mode: str, limits: tuple[float, float] | None) -> str:
    """An HTML colour legend for colour ``mode``: a turbo bar with ticks in metres for
    ``range``/``height``/``error`` (``limits`` ``(lo, hi)``), the axis colours for
    ``normal``, a note for ``rgb``. Points outside the range take the end colours."""
    if mode == "rgb":
        return "<b>colour</b>: the panorama's RGB (no scale)"
    if mode == "normal":
        sw = " ".join(
            f'<span style="color:{c}">&#9632;</span> {a}'
            for c, a in (("#ff8080", "+x right"), ("#80ff80", "+y down"), ("#8080ff", "+z fwd"))
        )
        return f"<b>colour</b>: surface normal, world axes (r, g, b) = (n + 1) / 2: {sw}"
    lo, hi = limits if limits is not None else (0.0, 1.0)
    stops = ", ".join(f"#{int(_TURBO_U32[i]):06x} {100 * i / 255:.0f}%" for i in range(0, 256, 32))
    ticks = "".join(
        f'<span style="position:absolute;left:{100 * k / 4:.0f}%;transform:translateX(-50%)">'
        f"{lo + (hi - lo) * k / 4:.2f}</span>"
        for k in range(5)
    )
    return (
        f'<div class="wb-legend" style="display:flex;align-items:center;gap:10px">'
        f"<span><b>colour</b>: {_LEGEND_TITLES[mode]} (m, 2nd–98th percentile of the points "
        "shown)</span>"
        f'<div style="width:320px"><div style="height:12px;background:linear-gradient(to right,'
        f' {stops}, #{int(_TURBO_U32[255]):06x} 100%)"></div>'
        f'<div style="position:relative;height:16px;font-size:11px">{ticks}</div></div>'
        f"<span>m</span></div>"
    )


@dataclass(frozen=True)
class CloudLayers:
    """Per-point layers of a (fused) cloud, ``N`` points.

    Attributes:
        points: ``(N, 3) float32`` world frame, metres.
        rgb: ``(N, 3) uint8``.
        range_m: ``(N,) float32`` distance to the point's own camera, metres.
        normals: ``(N, 3) float32`` unit normals (world frame) or None.
        error: ``(N,) float32`` per-point error in metres (prediction vs ground truth) or None.
        view: ``(N,) int32`` index of the view each point came from.
        height: ``(N,) float32`` metres above the floor (:func:`floor_level`), or None for
            ``-y`` (a world frame with its floor at ``y = 0``).
    """

    points: np.ndarray
    rgb: np.ndarray
    range_m: np.ndarray
    normals: np.ndarray | None = None
    error: np.ndarray | None = None
    view: np.ndarray | None = None
    height: np.ndarray | None = None

    def heights(self) -> np.ndarray:
        """``(N,)`` metres above the floor."""
        return -self.points[:, 1] if self.height is None else self.height

    def __len__(self) -> int:
        return len(self.points)


def cloud_layers(views, stride: int = 1, saturated_m=np.inf) -> CloudLayers:
    """Fuse views into per-point layers.

    Args:
        views: sequence of ``(rgb (H, W, 3) uint8, range_m (H, W), T_world_from_cam (4, 4),
            normals (H, W, 3) camera frame or None, error (H, W) metres or None)``; a view's
            range pixels that are not :func:`drawable` (0, NaN, inf, saturated) are dropped,
            its error kept where the range is drawable.
        stride: keep every ``stride``-th row and column.
        saturated_m: the encoding's largest range in metres, one for all views or one per view
            (``inf``: no such value, e.g. float depth).
    """
    parts = []
    sat = np.broadcast_to(np.asarray(saturated_m, np.float64), (len(views),))
    for k, (rgb, rng_m, T, nrm, err) in enumerate(views):
        if err is not None and np.shape(err) != np.shape(rng_m):
            raise WorkbenchError(
                f"views[{k}]: error must be shaped like range_m {np.shape(rng_m)}, "
                f"got {np.shape(err)}"
            )
        rng_m = np.where(drawable(rng_m, float(sat[k])), rng_m, np.float32(0))
        pc = rgbd_to_pointcloud(rgb, rng_m, T, nrm, stride)
        keep = valid_mask(np.asarray(rng_m)[::stride, ::stride])
        r = np.asarray(rng_m, np.float32)[::stride, ::stride][keep]
        e = None if err is None else np.asarray(err, np.float32)[::stride, ::stride][keep]
        parts.append((pc, r, e, np.full(len(r), k, np.int32)))
    if not parts:
        z = np.zeros((0, 3), np.float32)
        return CloudLayers(z, np.zeros((0, 3), np.uint8), np.zeros(0, np.float32))
    has_n = all(p[0].normals is not None for p in parts)
    has_e = all(p[2] is not None for p in parts)
    points = np.concatenate([p[0].points for p in parts]).astype(np.float32)
    normals = np.concatenate([p[0].normals for p in parts]) if has_n else None
    height = (np.float32(floor_level(points, normals)) - points[:, 1]).astype(np.float32)
    return CloudLayers(
        points,
        np.concatenate([p[0].colors for p in parts]),
        np.concatenate([p[1] for p in parts]),
        normals,
        np.concatenate([p[2] for p in parts]) if has_e else None,
        np.concatenate([p[3] for p in parts]),
        height,
    )


def floor_level(points: np.ndarray, normals: np.ndarray | None, bin_m: float = 0.02) -> float:
    """World ``y`` of the floor (y down): the most common height of upward-facing points
    (normal ``y < -0.9``), in ``bin_m`` bins; 0 without normals or such points. Datasets put
    their world origin anywhere (RealSee3D at the first camera), so a ceiling cut needs it.

    >>> p = np.zeros((5, 3), np.float32); p[:, 1] = [1.5, 1.5, 1.51, 0.7, -1.0]
    >>> n = np.tile(np.float32([0, -1, 0]), (5, 1))
    >>> round(floor_level(p, n), 2)
    1.5
    """
    if normals is None:
        return 0.0
    y = points[normals[:, 1] < -0.9, 1]
    if len(y) < 10 and len(y) < len(points) // 2 + 1:
        return 0.0
    bins = np.floor(y / bin_m).astype(np.int64)
    values, counts = np.unique(bins, return_counts=True)
    return float((values[np.argmax(counts)] + 0.5) * bin_m)


def select_points(
    layers: CloudLayers,
    budget: int,
    max_range: float = np.inf,
    max_height: float = np.inf,
    seed: int = 0,
) -> np.ndarray:
    """Indices of exactly ``min(budget, kept)`` points: those within ``max_range`` metres of
    their camera and at most ``max_height`` metres above the floor (``-y``; a ceiling cut),
    then a seeded uniform random sample (near and far in proportion to what was observed).

    >>> L = CloudLayers(np.zeros((10, 3), np.float32), np.zeros((10, 3), np.uint8),
    ...                 np.arange(10, dtype=np.float32))
    >>> select_points(L, 3, max_range=4.5).size, int(select_points(L, 99, max_range=4.5).max())
    (3, 4)
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    keep = np.ones(len(layers), bool)
    if np.isfinite(max_range):
        keep &= layers.range_m <= max_range
    if np.isfinite(max_height):
        keep &= layers.heights() <= max_height
    idx = np.flatnonzero(keep)
    if len(idx) > budget:
        pick = np.random.default_rng(seed).choice(len(idx), budget, replace=False)
        idx = idx[np.sort(pick)]
    return idx


def turbo_u32(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``values`` mapped linearly from ``[lo, hi]`` onto the turbo colour map, ``uint32``
    ``0xRRGGBB`` (clipped at both ends; NaN takes the low end)."""
    t = (np.asarray(values, np.float32) - np.float32(lo)) * np.float32(255.0 / max(hi - lo, 1e-6))
    return _TURBO_U32[np.nan_to_num(np.clip(t, 0, 255), nan=0.0).astype(np.uint8)]


def point_colors_u32(layers: CloudLayers, idx: np.ndarray, mode: str):
    """Colours of the points ``idx`` as ``(M,) uint32`` ``0xRRGGBB`` and the colour range.

    ``rgb``: the image; ``normal``: ``(n + 1) / 2``; ``range`` / ``height`` / ``error``: turbo
    over the 2nd-98th percentile (``error`` from 0), returned as ``(lo, hi)`` metres (None for
    rgb and normal) for a colour bar.
    """
    if mode not in COLOR_MODES:
        raise ValueError(f"colour mode must be one of {COLOR_MODES}, got {mode!r}")
    if mode == "rgb" or (mode == "normal" and layers.normals is None):
        c = layers.rgb[idx].astype(np.uint32)
        return (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2], None
    if mode == "normal":
        c = ((layers.normals[idx] + 1.0) * 127.5).clip(0, 255).astype(np.uint32)
        return (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2], None
    if mode == "error" and layers.error is None:
        raise ValueError("this cloud has no error layer (it needs a prediction and ground truth)")
    values = {
        "range": lambda: layers.range_m[idx],
        "height": lambda: layers.heights()[idx],
        "error": lambda: layers.error[idx],
    }[mode]()
    lo, hi = robust_limits(values)
    lo = 0.0 if mode == "error" else lo
    colors = turbo_u32(values, lo, hi)
    colors[~np.isfinite(values)] = NO_VALUE_U32  # e.g. no ground truth under a prediction
    return colors, (lo, hi)


def to_display(points: np.ndarray) -> np.ndarray:
    """World ``(x, y, z)`` (y down) → display ``(x, z, -y)`` (z up), ``float32``."""
    p = np.asarray(points, np.float32)
    return np.ascontiguousarray(np.stack([p[:, 0], p[:, 2], -p[:, 1]], axis=1))


def view_camera(T_world_from_cam: np.ndarray, ahead_m: float = 1.0) -> list[float]:
    """k3d camera ``[eye xyz, target xyz, up xyz]`` (display frame) standing at a view's
    camera centre and looking along its horizontal forward axis (camera ``+z``), up = up:
    the room as that panorama saw it.

    >>> view_camera(np.eye(4))
    [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    """
    T = np.asarray(T_world_from_cam, np.float64)
    eye = to_display(T[None, :3, 3])[0].astype(np.float64)
    fwd = to_display(T[None, :3, 2])[0].astype(np.float64)
    fwd[2] = 0.0
    n = float(np.linalg.norm(fwd))
    fwd = np.array([0.0, 1.0, 0.0]) if n < 1e-6 else fwd / n  # looking straight up or down
    target = eye + ahead_m * fwd
    return [float(v) for v in (*eye, *target, 0.0, 0.0, 1.0)]


def overview_camera(positions_world: np.ndarray) -> list[float] | None:
    """k3d camera framing the bulk of the points from above at about 45 degrees: aimed at
    their median, at a distance from the 70th percentile of their distances to it (so far
    points seen through windows, even a quarter of them, do not shrink the room); None without
    points.

    >>> room = np.random.default_rng(0).uniform(-2, 2, (1000, 3))
    >>> cam = overview_camera(np.concatenate([room, np.full((250, 3), 90.0)]))
    >>> bool(np.linalg.norm(np.subtract(cam[:3], cam[3:6])) < 12)
    True
    """
    if not len(positions_world):
        return None
    p = to_display(positions_world[:: max(1, len(positions_world) // 20000)]).astype(np.float64)
    target = np.median(p, axis=0)
    r = float(np.percentile(np.linalg.norm(p - target, axis=1), 70))
    eye = target + np.array([0.55, -0.55, 0.63]) * (2.2 * r + 0.5)
    return [float(v) for v in (*eye, *target, 0.0, 0.0, 1.0)]


def frustum_lines(poses, size: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Camera glyphs for ``poses`` (``T_world_from_cam``, camera frame x right, y down, z
    forward): a pyramid from the centre to a ``size``-metre square ahead, and an up tick.

    Returns:
        ``(vertices (6 K, 3) float32`` display frame, ``segments (10 K, 2) uint32)``.
    """
    local = np.array(
        [[0, 0, 0], [-1, -0.5, 1], [1, -0.5, 1], [1, 0.5, 1], [-1, 0.5, 1], [0, -1, 0]],
        np.float64,
    ) * [size, size, size]
    seg = np.array(
        [[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [2, 3], [3, 4], [4, 1], [0, 5], [1, 2]], np.uint32
    )
    verts, segs = [], []
    for k, T in enumerate(poses):
        T = np.asarray(T, np.float64)
        verts.append(to_display(local @ T[:3, :3].T + T[:3, 3]))
        segs.append(seg + 6 * k)
    if not verts:
        return np.zeros((0, 3), np.float32), np.zeros((0, 2), np.uint32)
    return np.concatenate(verts), np.concatenate(segs)


class CloudViewer:
    """A k3d plot holding one point cloud, camera frustums with their ids and an optional mesh.

    Updates send only what changed, on the same k3d points object: a colour change sends the
    ``uint32`` colours alone (:meth:`set_colors`), a new selection positions and colours in one
    message (:meth:`set_cloud`); the camera stays where the user left it. k3d's menu (point
    size, snapshot, clipping planes, camera reset) is on. ``plot`` is the widget to display;
    ``on_pick(index)`` is called with the picked point's index into the last ``set_cloud``
    while picking is on (:meth:`set_picking`).
    """

    def __init__(self, height: int = 520, point_size: float = 0.02, on_pick=None):
        self.plot = k3d.plot(
            height=height,
            grid_visible=False,
            axes=["x (m)", "z (m)", "up (m)"],
            camera_auto_fit=False,
            menu_visibility=True,
            name="point cloud",
            antialias=0,  # multisampling: 1M points' colour change 4.0 s with it, 1.5 s without
        )
        self.points = k3d.points(
            np.zeros((1, 3), np.float32),
            colors=np.zeros(1, np.uint32),
            point_size=point_size,
            shader="flat",
            name="points",
        )
        self.plot += self.points
        self.cameras = None
        self._labels: list = []
        self.mesh = None
        self.on_pick = on_pick

    @property
    def picking(self) -> bool:
        """Whether clicks pick points (see :meth:`set_picking`)."""
        return self.points.click_callback is not None

    def set_picking(self, on: bool) -> None:
        """Point picking (``on_pick`` called on a click) on or off. While it is on, k3d keeps a
        search tree over the points shown and rebuilds it on every new selection (1M points:
        about +1.7 s to a cut in software WebGL), so a viewer starts with picking off."""
        on = bool(on) and self.on_pick is not None
        if on == self.picking:
            return
        self.plot.mode = "callback" if on else "view"
        self.points.click_callback = self._clicked if on else None

    def _clicked(self, content: dict) -> None:
        index = content.get("index")
        if index is not None and self.on_pick is not None:
            self.on_pick(int(index))

    def set_cloud(self, positions_world: np.ndarray, colors_u32: np.ndarray) -> None:
        """Show ``(M, 3)`` world points with ``(M,) uint32`` colours (M may be 0)."""
        pos = to_display(positions_world)
        col = np.ascontiguousarray(colors_u32, np.uint32)
        if not len(pos):  # k3d needs a vertex: one invisible point
            pos, col = np.zeros((1, 3), np.float32), np.full(1, 0xFFFFFF, np.uint32)
        with self.points.hold_sync():
            self.points.positions = pos
            self.points.colors = col

    def set_colors(self, colors_u32: np.ndarray) -> None:
        """New colours for the points shown (same count and order): the positions stay put."""
        col = np.ascontiguousarray(colors_u32, np.uint32)
        if len(col) != len(self.points.positions):
            raise ValueError(
                f"colors_u32 must have one colour per point shown ({len(self.points.positions)}),"
                f" got {len(col)}"
            )
        self.points.colors = col

    def set_point_size(self, size_m: float) -> None:
        """Point size in metres (display units)."""
        self.points.point_size = float(size_m)

    def look_at_cloud(self, positions_world: np.ndarray) -> None:
        """Frame the bulk of the points from above (:func:`overview_camera`)."""
        cam = overview_camera(positions_world)
        if cam is not None:
            self.plot.camera = cam

    def look_from(self, T_world_from_cam: np.ndarray) -> None:
        """Stand at a view's camera and look where it looked (:func:`view_camera`)."""
        self.plot.camera = view_camera(T_world_from_cam)

    def set_cameras(self, poses, ids) -> None:
        """Frustums for ``poses`` and a text label with each id.

        The lines object is replaced, not updated: k3d applies ``vertices`` and ``indices`` as
        two changes, and in between a larger index array meets the old vertices (the console
        error "index 6 reaches beyond 6 vertices")."""
        verts, segs = frustum_lines(poses)
        if self.cameras is not None:
            self.plot -= self.cameras
            self.cameras = None
        if len(segs):
            self.cameras = k3d.lines(verts, segs, indices_type="segment", color=0xE53935,
                                     width=0.01, shader="simple", name="cameras")  # fmt: skip
            self.plot += self.cameras
        for t in self._labels:
            self.plot -= t
        self._labels = []
        for T, name in zip(poses, ids, strict=True):
            c = to_display(np.asarray(T)[None, :3, 3])[0] + np.float32([0, 0, 0.15])
            label = k3d.text(str(name), position=c.tolist(), color=0xE53935, size=0.8,
                             label_box=False)  # fmt: skip
            self.plot += label
            self._labels.append(label)

    def set_mesh(self, vertices: np.ndarray | None, triangles: np.ndarray | None = None) -> None:
        """Overlay a world-frame mesh (translucent), or remove it with ``None``."""
        if self.mesh is not None:
            self.plot -= self.mesh
            self.mesh = None
        if vertices is not None:
            self.mesh = k3d.mesh(
                to_display(vertices),
                np.ascontiguousarray(triangles, np.uint32),
                color=0xB0BEC5,
                opacity=0.25,
                side="double",
                name="mesh (obj/)",
            )
            self.plot += self.mesh
