"""RFC 9457 problem details: the one shape every khabar error answer takes."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_JSON = "application/problem+json"


class FieldProblem(BaseModel):
    pointer: str = Field(description="JSON pointer (body) or parameter name (query) at fault.")
    detail: str


class Problem(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    instance: str | None = None
    errors: list[FieldProblem] | None = None

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class ProblemError(Exception):
    """Raise anywhere while answering a request to answer with this problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail or problem.title)
        self.problem = problem


def problem(status: int, title: str, detail: str = "", **extra: Any) -> ProblemError:
    return ProblemError(Problem(status=status, title=title, detail=detail, **extra))
