"""/api/v1/devices and /api/v1/sites: the buttons and the places they protect."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, field_serializer

from hub.api.auth import Context, Viewer
from hub.api.context import ApiContext
from hub.clock import iso
from hub.domain.model import AlarmKind, Site
from hub.domain.state import HubState, Registry

router = APIRouter(prefix="/api/v1", tags=["registry"])


class DeviceView(BaseModel):
    id: str
    registered: bool
    site_id: str | None
    site_name: str | None
    label: str
    profile: str | None
    native_id: str | None
    test_mode: bool
    test_until: datetime | None = None
    """when the test mode (the button's, else its site's) ends by itself; null: no end set"""
    power: str | None
    """mains or battery, as registered (null: the profile's default)"""
    checkin_s: int | None
    """as registered (null: the profile's default)"""
    kind: AlarmKind = AlarmKind.HOLDUP
    """the kind of alarm its presses raise (holdup for a button the registry does not know)"""
    press_patterns: dict[str, AlarmKind] = {}
    """its own press patterns that raise another kind (the profile's are in the configuration)"""
    online: bool | None
    """true/false as the button last said, or as supervision declared; null if never heard"""
    online_since: datetime | None
    """when `online` last changed"""
    first_seen: datetime | None
    last_seen: datetime | None
    battery: int | None
    rssi: int | None
    fw: str | None
    last_event: str | None

    @field_serializer("first_seen", "last_seen", "online_since", "test_until")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else iso(value)


class SiteView(BaseModel):
    id: str
    name: str
    address: str
    phone: str
    lat: float | None
    lon: float | None
    test_mode: bool
    test_until: datetime | None = None
    """when its test mode ends by itself; null: no end set"""
    buttons: list[str]

    @field_serializer("test_until")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else iso(value)


def device_view(state: HubState, button_id: str) -> DeviceView | None:
    registry = state.registry
    button = registry.buttons.get(button_id)
    device = state.devices.get(button_id)
    if button is None and device is None:
        return None
    site = registry.site_of(button_id)
    return DeviceView(
        id=button_id,
        registered=button is not None,
        site_id=site.id if site else None,
        site_name=site.name if site else None,
        label=button.label if button else "",
        profile=button.profile if button else None,
        native_id=button.native_id if button else None,
        test_mode=bool((button and button.test_mode) or (site and site.test_mode)),
        test_until=(
            button.test_until
            if button and button.test_mode
            else (site.test_until if site and site.test_mode else None)
        ),
        power=button.power if button else None,
        checkin_s=button.checkin_s if button else None,
        kind=button.kind if button else AlarmKind.HOLDUP,
        press_patterns=dict(button.press_patterns) if button else {},
        online=device.online if device else None,
        online_since=device.online_since if device else None,
        first_seen=device.first_seen if device else None,
        last_seen=device.last_seen if device else None,
        battery=device.battery if device else None,
        rssi=device.rssi if device else None,
        fw=device.fw if device else None,
        last_event=device.last_event if device else None,
    )


def device_views(ctx: ApiContext) -> list[DeviceView]:
    """Every registered button, and every unregistered one the hub has heard from."""
    state = ctx.pipeline.state
    ids = sorted(set(state.registry.buttons) | set(state.devices))
    return [view for button_id in ids if (view := device_view(state, button_id)) is not None]


@router.get(
    "/devices", response_model=list[DeviceView], summary="Every button and what was last heard"
)
async def list_devices(ctx: Context, _: Viewer) -> list[DeviceView]:
    return device_views(ctx)


@router.get("/devices/{button_id}", response_model=DeviceView, summary="One button")
async def get_device(button_id: str, ctx: Context, _: Viewer) -> DeviceView:
    view = device_view(ctx.pipeline.state, button_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no button {button_id!r}")
    return view


def site_views(registry: Registry, sites: Iterable[Site]) -> list[SiteView]:
    buttons_of: dict[str, list[str]] = {}
    for button in registry.buttons.values():
        if button.site_id:
            buttons_of.setdefault(button.site_id, []).append(button.id)
    return [
        SiteView(
            id=site.id,
            name=site.name,
            address=site.address,
            phone=site.phone,
            lat=site.lat,
            lon=site.lon,
            test_mode=site.test_mode,
            test_until=site.test_until,
            buttons=sorted(buttons_of.get(site.id, [])),
        )
        for site in sites
    ]


@router.get("/sites", response_model=list[SiteView], summary="Every site and its buttons")
async def list_sites(ctx: Context, _: Viewer) -> list[SiteView]:
    registry = ctx.pipeline.state.registry
    return site_views(registry, sorted(registry.sites.values(), key=lambda s: s.name))
