"""Phase 2 stores: each project's last green, and each red request's analysis record."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa

from sq.stovepipe.entity.project import Analysis, AnalysisState, ProjectHead
from sq.stovepipe.storage.base import AlreadyExistsError, NotFoundError, SqlBase, columns
from sq.stovepipe.storage.schema import analyses, project_heads


def _analysis(row: sa.RowMapping) -> Analysis:
    return Analysis(
        queue=row["queue"],
        request_id=row["request_id"],
        uri=row["uri"],
        planned=tuple(p for p in row["planned"].split(",") if p),
        state=AnalysisState(row["state"]),
        version=row["version"],
    )


class ProjectStores(SqlBase):
    def get_project_head(self, queue: str, project: str) -> ProjectHead:
        query = sa.select(project_heads).where(
            project_heads.c.queue == queue, project_heads.c.project == project
        )
        row = self._one(query, f"project {project}")
        return ProjectHead(**{k: row[k] for k in columns(project_heads)})

    def get_or_create_project_head(self, queue: str, project: str) -> ProjectHead:
        try:
            return self.get_project_head(queue, project)
        except NotFoundError:
            pass
        head = ProjectHead(queue=queue, project=project)
        try:
            self._insert(project_heads, {c: getattr(head, c) for c in columns(project_heads)}, "")
        except AlreadyExistsError:
            return self.get_project_head(queue, project)
        return head

    def update_project_head(self, head: ProjectHead) -> ProjectHead:
        values = {"last_green_uri": head.last_green_uri}
        values["last_green_request_id"] = head.last_green_request_id
        self._cas(
            project_heads, {"queue": head.queue, "project": head.project}, head.version, values
        )
        return replace(head, version=head.version + 1)

    def project_heads(self, queue: str) -> dict[str, ProjectHead]:
        query = sa.select(project_heads).where(project_heads.c.queue == queue)
        rows = self._all(query)
        return {
            r["project"]: ProjectHead(**{k: r[k] for k in columns(project_heads)}) for r in rows
        }

    def get_analysis(self, queue: str, rid: str) -> Analysis:
        query = sa.select(analyses).where(analyses.c.queue == queue, analyses.c.request_id == rid)
        return _analysis(self._one(query, f"analysis of {rid}"))

    def create_analysis(self, analysis: Analysis) -> Analysis:
        """Create-only: AlreadyExistsError leaves the stored plan untouched (first plan wins)."""
        values = {
            "queue": analysis.queue,
            "request_id": analysis.request_id,
            "uri": analysis.uri,
            "planned": ",".join(analysis.planned),
            "state": str(analysis.state),
            "version": analysis.version,
        }
        self._insert(analyses, values, f"analysis of {analysis.request_id}")
        return analysis

    def update_analysis(self, analysis: Analysis) -> Analysis:
        values = {"planned": ",".join(analysis.planned), "state": str(analysis.state)}
        keys = {"queue": analysis.queue, "request_id": analysis.request_id}
        self._cas(analyses, keys, analysis.version, values)
        return replace(analysis, version=analysis.version + 1)
