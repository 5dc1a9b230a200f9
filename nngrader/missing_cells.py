"""Put back the graded cells a student deleted, wherever they were in the notebook.

nbgrader's ``OverwriteCells`` (with ``add_missing_cells``) re-inserts a deleted grade cell after
the solution or grade cell that preceded it in the source notebook. When the cell before it is a
locked cell of another kind (a markdown introduction, a locked helper), nbgrader raises
``KeyError`` and the whole autograde of that student fails: deleting one test cell would cost
every grade of the notebook. :class:`RestoreMissingCells` inserts the cell after the nearest
preceding cell of the source notebook that the submission still has, whatever its kind, or at the
top when there is none. Configured in ``nbgrader_config.py`` as part of
``Autograde.sanitize_preprocessors``.
"""
from __future__ import annotations

from nbgrader.preprocessors import OverwriteCells

__all__ = ["RestoreMissingCells"]


class RestoreMissingCells(OverwriteCells):
    """nbgrader's OverwriteCells, with deleted grade cells restored after any surviving neighbour."""

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = list(source_nb.source_cells)
        source_ids = [cell.name for cell in source_cells]
        grade_cells = {cell.name: cell for cell in source_nb.grade_cells}
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        for position, grade_id in enumerate(source_ids):  # in notebook order: restored cells keep theirs
            if grade_id not in grade_cells:
                continue
            present = {cell.metadata["nbgrader"].get("grade_id"): i for i, cell in enumerate(nb.cells)
                       if "nbgrader" in cell.get("metadata", {})}
            if grade_id in present:
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook", grade_id)
            after = next((present[s] for s in reversed(source_ids[:position]) if s in present), -1)
            cell = self.missing_cell_transform(source_cells[position], grade_cells[grade_id].max_score,
                                               is_solution=grade_id in solution_ids)
            nb.cells.insert(after + 1, cell)
        return nb, resources
