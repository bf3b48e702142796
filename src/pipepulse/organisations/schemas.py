from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from pipepulse.schemas import Timestamp


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    name: str
    created_at: Timestamp
