"""The words demo data is made of: people, and task areas with their titles and tags.

Titles mix cases and scripts on purpose ("straße" beside "STRASSE", "Éclairs" beside
"eclair"), so that the case-folded TITLE order has something to show.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
    "Zoë", "José", "Søren", "Łukasz", "Ángela", "Björn", "Chloé", "Nguyễn", "Aiyana", "Mei",
    "Priya", "Kwame", "Fatima", "Mateo", "Ingrid", "Yuki", "Olumide", "Saoirse", "Dmitri", "Leila",
)  # fmt: skip

LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
    "Allen", "Dijkstra", "Müller", "García", "Kierkegaard", "Nowak", "O'Brien", "Ødegaard",
    "Tanaka", "Okafor", "Haddad", "Fernández", "Van der Berg", "Schröder", "Kowalczyk", "Chen",
)  # fmt: skip


@dataclass(frozen=True)
class Area:
    """A part of someone's life: the tasks it brings (medium-length titles) and its tags."""

    titles: tuple[str, ...]
    tags: tuple[str, ...]


AREAS = (
    Area(
        titles=(
            "Review pull request for the billing service",
            "Fix flaky login test",
            "Write release notes for 2.4",
            "Prepare slides for the architecture review",
            "Migrate cron jobs to the scheduler",
            "Answer the customer escalation from Zürich",
            "Update the on-call runbook",
            "Profile the search endpoint",
            "Interview backend candidate",
            "Draft Q3 roadmap",
            "Rotate the staging database credentials",
            "pair with Zoë on the export bug",
            "Éclairs for the team retro",
            "Clean up feature flags",
            "Document the deployment pipeline",
        ),
        tags=(
            "work",
            "backend",
            "frontend",
            "bug",
            "docs",
            "meeting",
            "review",
            "release",
            "ops",
            "design",
            "research",
            "hiring",
            "customer",
            "infrastructure-cost-optimisation",
        ),
    ),
    Area(
        titles=(
            "Buy milk",
            "buy birthday present for Mateo",
            "Fix the dripping kitchen tap",
            "Mow the lawn",
            "Straße vor dem Haus fegen",
            "STRASSE permit for the moving van",
            "Call the landlord about the heating",
            "Take the bins out",
            "Order a new vacuum cleaner bag",
            "Plan the kids' weekend",
            "Repaint the garden fence",
            "Return library books",
        ),
        tags=("home", "errands", "garden", "repairs", "shopping", "kids", "family"),
    ),
    Area(
        titles=(
            "Book a dentist appointment",
            "Renew gym membership",
            "Run 5 km",
            "Pick up the prescription",
            "Schedule the annual check-up",
            "Yoga class on Thursday",
            "Meal prep for the week",
        ),
        tags=("health", "fitness", "doctor", "habits"),
    ),
    Area(
        titles=(
            "File the tax return",
            "Pay the electricity bill",
            "Cancel the unused streaming subscription",
            "Compare home insurance offers",
            "Send the invoice to Ødegaard & Co",
            "Check the pension statement",
        ),
        tags=("finance", "taxes", "bills", "paperwork"),
    ),
    Area(
        titles=(
            "Book flights to São Paulo",
            "Renew passport",
            "Find a café near the hotel in Kraków",
            "Apply for the visa",
            "Pack for the conference in Reykjavík",
            "Reserve a table at the Café de Flore",
            "東京 trip: buy rail passes",
        ),
        tags=("travel", "visa", "bookings", "café"),
    ),
    Area(
        titles=(
            "Read chapter 4 of Designing Data-Intensive Applications",
            "Finish the Rust course module",
            "Practise Spanish for 20 minutes",
            "Watch the talk on CRDTs",
            "Write a blog post about keyset pagination",
            "éclair recipe from the baking course",
        ),
        tags=("learning", "reading", "course", "languages", "writing"),
    ),
)

# Tags any area may use: how people mark urgency and waiting.
GENERAL_TAGS = ("someday", "waiting", "quick-win", "p1", "blocked", "Q3")

SHORT_TITLES = (
    "X", "Gym", "Taxes", "Café", "Dentist", "Pay rent", "Call mum", "Straße", "Haircut", "Zoë",
    "Ideas", "Groceries", "🎉 Party", "RSVP", "Backups",
)  # fmt: skip

# Joined to a title to make it longer, the way people cram context into one line.
TITLE_QUALIFIERS = (
    "before Friday",
    "(follow-up)",
    "for the Q3 planning",
    "with Zoë",
    "— see notes",
    "again",
    "if there is time",
    "ASAP",
)

SENTENCES = (
    "Check with the team before committing to a date.",
    "The last attempt failed because the credentials had expired.",
    "Keep the receipts; they are needed for the expense report.",
    "Ask Søren whether the numbers from March are final.",
    "This blocks the release, so it should not wait until next week.",
    "Notes from the call are in the shared folder.",
    "Use the checklist from last time and update it afterwards.",
    "Remember that the office is closed on the public holiday.",
    "The café on the corner opens at seven, which leaves enough time.",
    "Budget is roughly 250 €, give or take.",
    "Nothing urgent, but it keeps coming back.",
    "Compare at least three offers before deciding.",
    "The straße closure lasts until the end of the month.",
    "Link: https://example.com/tickets/4711",
    "Waiting for a reply since Tuesday.",
)
