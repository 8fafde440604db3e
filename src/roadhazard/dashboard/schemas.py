"""What the dashboard page reads at start (`/dashboard/config.json`): no inline script carries
configuration, so the page's policy can forbid inline scripts altogether."""

from __future__ import annotations

from pydantic import BaseModel, Field

from roadhazard.taxonomy.schemas import Severity


class TilesOut(BaseModel):
    url: str = Field(description="A Leaflet URL template: {z}, {x}, {y}, optionally {s}, {r}.")
    attribution: str = Field(description="Plain text; [text](https://...) is a link.")


class HazardClassOut(BaseModel):
    code: str
    name: str
    severity: Severity


class DashboardConfigOut(BaseModel):
    tiles: TilesOut | None = Field(description="null: no tiles, a plain background.")
    refresh_s: float = Field(description="How often the page refreshes what it shows.")
    reads_need_key: bool = Field(description="Reads need an API key (PUBLIC_READS is off).")
    actions_need_key: bool = Field(description="State changes need an admin API key.")
    classes: list[HazardClassOut] = Field(description="The taxonomy, in the legend's order.")
