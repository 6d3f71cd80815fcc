"""Evaluation harnesses: measure what an agent's answers are worth, out of the runtime.

`evaluate_answers` runs an agent over labelled questions and scores each answer
against the facts a right answer must hold (`answer_holds`); `AnswerReport`
is what ``agentkit eval answers`` prints and writes. Nothing here is imported
by a turn.
"""

from agentkit.evals._answers import (
    AnswerReport,
    AnswerRow,
    CurvePoint,
    EvalDataError,
    RowResult,
    answer_holds,
    calibration_curve,
    evaluate_answers,
    missing_facts,
    read_answer_rows,
    retrieval_recall,
    score_answers,
)

__all__ = [
    "AnswerReport",
    "AnswerRow",
    "CurvePoint",
    "EvalDataError",
    "RowResult",
    "answer_holds",
    "calibration_curve",
    "evaluate_answers",
    "missing_facts",
    "read_answer_rows",
    "retrieval_recall",
    "score_answers",
]
