"""The sentences of the built-in corpus ``synth-speech``, written for this project.

Each sentence has 4 to 12 words and at least one word whose pronunciation differs between
English accents (tomato, water, bath, dance, can't, schedule, route, either, garage, herb...).
They hold no digits, no number words, no parentheses, no possessives and no words that the
Whisper English normalizer splits or joins differently from the reference (compounds such as
"sea shells"), so a word error rate on them measures recognition, not spelling conventions.

Changing any sentence changes :func:`sentences_hash` and therefore the corpus recipe: bump the
corpus version and rebuild (``bench data build synth-speech``).
"""

from __future__ import annotations

import hashlib
import json

#: (sentence id, text). Ids are stable: never renumber, only append.
SENTENCES: tuple[tuple[str, str], ...] = (
    ("s001", "Would you like some tomato soup with your potato salad?"),
    ("s002", "The garage door was painted a deep shade of blue."),
    ("s003", "Either route will take us past the old water tower."),
    ("s004", "She can't dance at the party on Saturday night."),
    ("s005", "Please check the schedule before you leave the office."),
    ("s006", "He took a long bath after working in the herb garden."),
    ("s007", "We spend our leisure time walking along the river."),
    ("s008", "The aluminium tray was too hot to touch."),
    ("s009", "A glass of water sat beside the empty vase."),
    ("s010", "My aunt said the tomatoes were ripe and ready."),
    ("s011", "The new route goes straight through the quiet village."),
    ("s012", "I can't find the bottle of water anywhere."),
    ("s013", "Tomorrow we will plant basil and other herbs."),
    ("s014", "The dancers laughed as the band played a fast tune."),
    ("s015", "Neither answer seemed quite right to the teacher."),
    ("s016", "They parked the car in the garage near the harbour."),
    ("s017", "The last bus leaves the station rather early."),
    ("s018", "Her vitamin tablets are kept on the kitchen shelf."),
    ("s019", "The laboratory results arrived late on Thursday afternoon."),
    ("s020", "Can you pass the butter and a little more bread?"),
    ("s021", "The tomato plants need more water in the summer."),
    ("s022", "The controversial advertisement was shown on the news."),
    ("s023", "He asked for a banana and a glass of milk."),
    ("s024", "The castle stood on a hill above the path."),
    ("s025", "I often walk to the market in the morning."),
    ("s026", "The herbal tea tasted of mint and lemon."),
    ("s027", "Put the potatoes in the oven for an hour."),
    ("s028", "The schedule changed again because of the storm."),
    ("s029", "Her car was parked far from the park gate."),
    ("s030", "The dog chased a squirrel across the lawn."),
    ("s031", "Nobody knew whether the mirror was worth much money."),
    ("s032", "They sailed along the coast toward the northern cliffs."),
    ("s033", "The class read a poem about a lonely farmer."),
    ("s034", "We need a new caramel sauce for the dessert."),
    ("s035", "The garage mechanic fixed the brakes this morning."),
    ("s036", "Either way the water will be cold tonight."),
    ("s037", "Please answer the letter before the end of the week."),
    ("s038", "The tourists asked for directions to the museum."),
    ("s039", "Leisure centres are busy during the school holidays."),
    ("s040", "She bought a can of tomatoes and some fresh herbs."),
    ("s041", "The aluminium ladder leaned against the red barn."),
    ("s042", "On Tuesday the new student arrived at the university."),
    ("s043", "The duke wore a dark suit to the opera."),
    ("s044", "I do not remember the name of that dance."),
    ("s045", "The bath water was warm and full of bubbles."),
    ("s046", "A route map was pinned above the kitchen door."),
    ("s047", "They ate pasta with garlic and tomato sauce."),
    ("s048", "His daughter bought a new water bottle for school."),
    ("s049", "We watched the last ferry cross the harbour."),
    ("s050", "The clerk filed the papers in the wrong folder."),
    ("s051", "My father often worked late at the factory."),
    ("s052", "Heat the butter slowly until it turns golden."),
    ("s053", "The tomato vine climbed along the garden wall."),
    ("s054", "She can't decide which route is faster."),
    ("s055", "The vase of flowers fell off the table."),
    ("s056", "He drank a glass of water and went to bed."),
    ("s057", "Their garage is full of old boxes and tools."),
    ("s058", "A gentle breeze moved through the tall grass."),
    ("s059", "The schedule for the dance class is on the wall."),
    ("s060", "He said either answer would be perfectly fine."),
    ("s061", "The pilot spoke calmly about the weather ahead."),
    ("s062", "Our neighbour grew potatoes and herbs in the yard."),
    ("s063", "Her aunt lives in a small flat near the river."),
    ("s064", "The children laughed at the clown in the park."),
)


def sentence_text(sentence_id: str) -> str:
    return dict(SENTENCES)[sentence_id]


def sentences_hash() -> str:
    """SHA-256 of the canonical JSON of :data:`SENTENCES` (recorded in the corpus recipe)."""
    return hashlib.sha256(json.dumps(SENTENCES, separators=(",", ":")).encode()).hexdigest()
