"""The ``load_profile`` activity: reads a profile file so that the run records what it used."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from handrail.contracts import LoadProfileRequest, Profile, ToolBinding, ToolRule
from handrail.errors import ErrorType, InvalidProfileError, UnknownProfileError
from handrail.profile_catalog import ProfileCatalog
from handrail.tools import ToolRegistry


class ProfileActivities:
    def __init__(self, catalog: ProfileCatalog, registry: ToolRegistry, default_model: str) -> None:
        self._catalog = catalog
        self._registry = registry
        self._default_model = default_model

    @activity.defn(name="load_profile")
    async def load_profile(self, request: LoadProfileRequest) -> Profile:
        # A missing or broken profile will not fix itself on retry: fail the task at once.
        try:
            file = self._catalog.load(request.name)
        except UnknownProfileError as error:
            raise ApplicationError(
                str(error), type=ErrorType.UNKNOWN_PROFILE, non_retryable=True
            ) from None
        except InvalidProfileError as error:
            raise ApplicationError(
                str(error), type=ErrorType.INVALID_PROFILE, non_retryable=True
            ) from None
        bindings = []
        for name in file.tools:
            spec = self._registry.get(name)
            if spec is None:
                raise ApplicationError(
                    f"profile {file.name!r} names tool {name!r}, which is not registered "
                    f"(registered: {', '.join(self._registry.names)})",
                    type=ErrorType.INVALID_PROFILE,
                    non_retryable=True,
                )
            # Unlisted tools: reads run on their own, anything else is supervised.
            default_rule = ToolRule(autonomy="autonomous" if spec.read_only else "supervised")
            bindings.append(
                ToolBinding(
                    name=name,
                    read_only=spec.read_only,
                    compensation=spec.compensation,
                    irreversible=spec.irreversible,
                    parameters=spec.parameters,
                    amount_field=spec.amount_field,
                    rule=file.rules.get(name, default_rule),
                    sensitive=list(spec.sensitive),
                    summary=spec.summary,
                )
            )
        return Profile(
            name=file.name,
            description=file.description,
            model=file.model or self._default_model,
            system_prompt=file.system_prompt,
            tools=bindings,
            max_steps=file.max_steps,
            max_tokens=file.max_tokens,
            max_duration_seconds=file.max_duration_seconds,
            review_tiers=file.review_tiers,
            final_answer=file.final_answer,
            max_consecutive_refusals=file.max_consecutive_refusals,
        )
