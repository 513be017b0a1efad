"""Explicit threats of violence found by phrase patterns, as character spans into the comment as written.

The learned ``threat`` head is weak (threats are rare in every permissive training set), so the policy
also sends to review a comment that states, in so many words, an intent, wish or call to hurt a person
(``model.policy.review_threat_phrase``). A phrase is a threat here when it joins three things:

- who wants it: the writer (``I will``, ``I'm gonna``, ``I'm coming to``, ``we'll``, ``I want to``, ``I'd love to``,
  ``I plan to``, ``I can't wait to``, ``let's``, ``me and my friends will``), a call on someone else (``someone should``), a wish (``I hope someone``, ``I hope you``),
  or a judgement on a person (``you deserve to be``, ``he should be``);
- an act of physical violence (kill, shoot, stab, hang, beat up, break your neck, set on fire, bomb or torch your
  house, have you killed, poison you, poison your coffee, put poison in his drink, blow your family up, ...), also in
  the progressive after ``be`` ("I'll be killing you", "i'll b killin u", "I'll be shooting you in the head", "I'll be
  burning your house down", "I'll be kicking your ass"; not a bare shooting or hanging, which photos and pictures
  are, nor kicking your ass "at chess");
- a person as its target (you, him, her, them, your family, that guy, all of you, the minister, the editor,
  whoever signed this, ...), or a person's body (his head, the minister's head).

Some words may come between the intent and the act (``I will personally come over and``, ``I'll find you
and``). Patterns run on ``model.normalize`` output, so case, leetspeak (``k1ll``), masked letters
(``k*ll``), spaced letters (``k i l l``), elongations and extra spaces do not hide a phrase; spans are
mapped back to the raw text with ``normalize_with_offsets``. A few menacing phrases with no act in them
are specific enough on their own: ``I know where you live`` (or he, the minister, ... lives), ``you'd better
watch your back``, ``watch your back or else``, ``you're a dead man``, ``I want you dead``, ``a bullet with your name
on it`` (or a round), and the writer coming or waiting for a person, or at their door, with a weapon where the
clause ends (``I'll be coming for you with a knife``, ``I'm waiting for you with guns``, ``I'll be at your door with
a gun``; not for "them", which hunters and gardeners say of geese and stumps, nor with "a nail gun" or "a foam
sword"), and seeing you with a weapon where the clause ends (``I'll be seeing you with a knife``, ``See you soon with
a gun.``; not "see you tomorrow with a hammer", a tool, nor "see you soon with your shotgun").

Deliberately not matched (news comments say these every day, or they are not threats of violence):

- things as targets: "this deal will kill the economy", "kill the bill", "I'd kill for a coffee"; bombing or
  executing anyone ("if Iran attacks our ships, we should bomb them", "if he is convicted, we should execute him"),
  poisoning or blowing up anyone but a person pointed at (you, him, her, all of you, your family) where the clause
  ends ("poison them against the merger", "I'll blow you up on Twitter", "I'll blow him up and frame it", "bomb you
  with questions", "we should blow them to bits"); "poisoned" and "blown up" are a wish or a judgement only where the
  clause ends ("I hope you get poisoned.", not "I hope they were poisoned by accident");
- subjects that are not the writer: "the tax will hurt families", "the virus kills people", and reported
  speech, "the gunman threatened to shoot them", "he said he would kill her". A threat quoted in the first
  person ("he wrote: I will kill you", "he wrote 'I will kill you'") is matched: the patterns do not parse quotations, and such a comment
  is worth a human's look anyway. "I never said I would kill him" is not (an intent after *said*,
  *claimed*, *implying*, ... is not the writer's own); "do you think I would hurt you?" is;
- negations ("I will never hurt you", "I won't kill him", "I hope nobody gets hurt"): only adverbs may
  stand between the intent and the act;
- figures of speech: "stab you in the back", "shoot you an email", "hang him out to dry", "beat you at
  the polls", "kill them with kindness", "hurt them in the wallet", "take him down", "shoot it down";
- "you'll pay for this" (mostly "at the polls"), a bare "watch your back" (often advice, and said of
  politicians), "I could kill him" (exasperation), "he should be executed" and "he should die in prison"
  (the death-penalty and sentencing debate), "death to ..." slogans, wishes of illness, "you're going to get hurt"
  (as often a warning as a threat);
- self-harm as a figure of speech, advice or a report: "don't kill yourself over it", "you'll kill yourself laughing",
  "shoot yourself in the foot", "jump off a cliff into the lake", "Trump told people to drink bleach" (and the other
  forms the paragraph below lists).

Known gaps: people named rather than pointed at, for most acts ("Trudeau should be killed": a name cannot be
told from a bill's or a company's without a tagger; a bare "should be shot" ending its clause is matched whoever
is named, since things are shot down, or shot somewhere), threats without an act or weapon ("you'll regret this",
"I'm coming for you"), and veiled or conditional ones ("it would be a shame if something happened to your car").

Urging the reader to harm themselves is matched too (self-harm incitement, a call to hurt a person who reads it),
where it starts the comment or a sentence and ends the sentence or is followed by a word of contempt: ``Go kill
yourself.``, ``You should just kill yourself, loser``, ``Why don't you hang yourself?``, ``Do us all a favour and jump
off a bridge``, ``Go drink bleach``, ``Slit your wrists``, ``go kys``, ``Go commit suicide``, ``Go jump in front of a
bus``. A review of a first, wider version (96 civil sentences) found it sending news and sports talk to review, and
it now leaves alone: "drink bleach" without "go" (2020's medical advice, quoted and mocked), "kys" inside a sentence
("Trolls told her to kys"), a quotation or report after a colon, comma or quotation mark ("The bully wrote: go kill
yourself."), a clause after a comma ("Smoke if you want, kill yourself, just not near my kids"), "shoot yourself"
(basketball, photography), "stab yourself" (an EpiPen), "rope yourself" (climbing), "jump off the ledge" (games),
"jump off a bridge, it's the best thing I've done" (bungee), "better off if you were dead" (said in mental-health
talk) and "we'll find out where you live" (forms). Missed: misspellings ("kil yourself"), conditionals ("Nobody would
miss you if you killed yourself"), "do the world a favour and end it", "drink bleach and die", and an urging after a
line break without a full stop ("Great article\ngo kill yourself": ``normalize`` makes the break a space).

A match is a rule firing, not a probability: every span has ``score`` ``THREAT_SPAN_SCORE`` (1.0).
The phrases send a comment to a human; they never reject it on their own.
"""

from __future__ import annotations

import functools
import re

from model.characters import whole_characters
from model.normalize import normalize, normalize_with_offsets, raw_range
from model.results import Span

THREAT_SPAN_SCORE = 1.0
"""The ``score`` of every span: a pattern matched (a rule, not a calibrated probability)."""


def _first(*alternatives: str) -> str:
    """A non-capturing alternation, in the given order: Python's ``re`` takes the first alternative that fits."""
    return "(?:" + "|".join(alternatives) + ")"


def _any(*words: str) -> str:
    """A non-capturing alternation of words, longest first, so that "kneecaps" is not cut to "knee"."""
    return _first(*sorted(words, key=len, reverse=True))


def _not_after(*words: str) -> str:
    """Lookbehinds: the next word does not follow any of ``words``."""
    return "".join(f"(?<!{word} )" for word in words)


# -- text positions ---------------------------------------------------------------------------------

_APOSTROPHE = "['’`´]"
_Q = f"{_APOSTROPHE}?"  # an apostrophe or none: "i'm", "i’m", "im"
_END = r"(?![\w'’])"  # the end of a word: not "you're", nor a plural's possessive ("the liberals' tax")
_END_OR_QUOTE = r"(?!\w|['’]\w)"
"""The end of a word that a closing single quote may follow: a pronoun's or a phrase's end ("he wrote 'I will kill
you'"), where no possessive can follow."""
_S = "(?:s|es)?"  # "kill" in "I will kill you", "kills" in "I hope someone kills you"
_SENTENCE_START = r"\b(?:^|(?<=[.!?,;:(\"“”] )|(?<=[.!?,;:(\"“”]))"
"""Where an imperative may begin: "... and hurt his family" has its subject further back."""
_CLAUSE_START = (
    rf"\b(?:{_SENTENCE_START}|(?<=\band )|(?<=\bso )|(?<=\bbut )|(?<=\bthen )|(?<=\bor )|(?<=\blol )|(?<=\bnow ))"
)
"""Where a clause may begin: "ill kill you" there is "i'll", not "the mentally ill"."""
# Lookbehinds are slow, so every pattern that has some first tests a cheap lookahead: (?=ill\b), (?=may ), ...

# -- who intends, wishes or calls for it ------------------------------------------------------------

_ADVERB = _any(
    "just", "really", "personally", "literally", "actually", "definitely", "seriously", "gladly", "happily",
    "honestly", "totally", "absolutely", "fucking", "freaking", "frigging", "effing", "soon", "then", "also",
    "still", "now", "eventually", "one day", "someday", "finally", "all", "both", "probably", "surely",
    "certainly", "so", "simply", "first", "even", "go", "come", "and", "gonna have to", "have to",
)
"""Words that may stand between an intent and its act. Negations may not: "I will never hurt you"."""
_ADVERBS = rf"(?:{_ADVERB} ){{0,3}}"
_FUTURE = _any("going to", "gonna", "gunna", "about to", "finna", "fixing to", "coming to")
_WANT = _any("want to", "wanna", "would like to", "would love to", "like to", "love to", "wish to", "plan to",
             "intend to", "promise to", "am ready to", "are ready to", f"can(?:no|{_APOSTROPHE}|)t wait to")
_MODAL = _any("will?", "shall", "would", "should", "might", "must", "gotta", "have to", "need to",
              f"am {_FUTURE}", f"are {_FUTURE}", _WANT)
_NOT_OWN = _not_after("thought", "say", "says", "said", "claim", "claims", "claimed", "suggest", "suggests",
                      "suggesting", "imply", "implies", "implying")
"""Not the writer's own intent: "I never said I would kill him", "are you implying I would hurt you?"."""
_I = rf"\b(?=(?:i|we)\b){_NOT_OWN}(?:i|we)"
_CREW = _any("friends", "boys", "mates", "brothers", "buddies", "crew", "pals", "guys", "homies", "cousins")
_WE_TOGETHER = rf"\b(?:me and my {_CREW}|my {_CREW} and (?:i|me))"
"""The writer and company as the subject: "me and my friends will kill you", "my boys and I are gonna find you"."""
_INTENT = _any(
    rf"{_I} {_ADVERBS}{_MODAL}",
    rf"{_I}{_APOSTROPHE}(?:ll|d)(?: {_ADVERBS}{_WANT})?",
    rf"\b(?=i|we){_NOT_OWN}(?:i{_Q}m|i am|we{_APOSTROPHE}re|we are) {_ADVERBS}{_FUTURE}",
    rf"{_NOT_OWN}{_WE_TOGETHER}(?: {_ADVERBS}{_MODAL}|{_APOSTROPHE}ll(?: {_ADVERBS}{_WANT})?| are {_ADVERBS}{_FUTURE})",
    rf"(?=ill\b){_CLAUSE_START}ill",  # "ill kill you": "i'll" without its apostrophe
    rf"\b(?:i{_Q}ma|imma)",
    rf"(?={_FUTURE}){_CLAUSE_START}{_FUTURE}",  # "gonna find you and ...": the subject dropped
    rf"\blet{_Q}s|\blet us",
)
_ON_THE_WAY = _any(  # "I will come over and ...", "I'll find you and ..."
    r"(?:come|go|get|drive|fly|walk|head|run|show up|swing by|stop by|be coming|be going)(?: "
    + _any("over", "round", "around", "down", "up", "out", "back", "there", "here", "home", "by", "tonight",
           "tomorrow", "for you", "after you", "to your house", "to your home", "to your place", "to your work",
           "to your door", "to where you live")
    + "){0,3}",
    "(?:find|track|hunt|catch|get|wait for|look for|see|grab|follow) {target}(?: "
    + _any("down", "up", "out", "one day", "someday", "alone", "outside", "again", "later", "first", "tonight",
           "in person", "in real life", "irl", "in a dark alley")
    + "){0,2}",
    "find (?:out )?where {you} (?:live|lives|work|works|sleep|sleeps)",  # "I'll find where you live and ..."
)
_COMPANY = _any("someone", "somebody", "some one")
_CALL = _any(
    rf"\b{_COMPANY} (?:"
    + _any("please", "pls", "plz", "just", "really", "needs to", "should", "ought to", "oughta", "has to", "gotta",
           "must", "better", "go", "has got to", "need to", "seriously", "needs ta")
    + " ){1,3}",
    rf"(?=some){_CLAUSE_START}{_COMPANY} (?:please )?",  # "Someone shoot him."
)
_HOPE = rf"\b(?:i|we) (?:{_ADVERB} )?(?:hope|wish|pray)s? (?:that )?"
_NOT_MENACE = _not_after("when", "until", "till", "after", "before", "once", "if", "unless", "because")
"""Not "you can sleep when you're dead": a state some time off, not a threat."""

# -- who is the target ------------------------------------------------------------------------------

_YOU = _any("you", r"u(?!\.\w)", "ya", "ye", f"y{_Q}all", "thee")
_HER = (r"her(?! (?:career|chances|feelings|reputation|campaign|credibility|business|party|argument|case|"
        r"name|image|brand|sales|ratings|book|show|account|votes?|position|point|plan|bill|policy|company|"
        r"music|song|album|ego|pride|heart|record|legacy|government|agenda|numbers|bid|hopes?|budget|chance)\b)")
_OBJECT = _any(_YOU, "him", _HER, "them", f"{_Q}em")
_POSSESSIVE = _any("your", "ur", "yer", "his", "her", "their")
_KIN = _any(
    "family", "families", "kids?", "children", "child", "wife", "husband", "son", "daughter", "mother", "mom",
    "mum", "father", "dad", "parents", "brother", "sister", "girlfriend", "boyfriend", "friends?", "ass",
    "asses", "baby", "babies",
)
_PERSON = _any(  # groups only in the plural: "the liberal budget" is not a person
    "guys?", "man", "men", "woman", "women", "girl", "boy", "dude", "bitch(?:es)?", "bastards?", "idiots?",
    "morons?", "fools?", "fuckers?", "motherfuckers?", "pricks?", "assholes?", "scumbags?", "cops", "person",
    "people", "traitors?", "author", "writer", "reporter", "journalists?", "poster", "commenters?", "trolls?",
    "judge", "politicians?", "president", "prime minister", "minister", "mayor", "senator", "officers?",
    "teacher", "neighbou?rs?", "kids", "liberals", "conservatives", "libs", "libtards?", "muslims", "jews",
    "immigrants", "refugees", "gays", "blacks", "whites", "democrats", "republicans", "cunts?", "punks?", "sob",
    "thugs?", "creeps?", "perverts?", "scum", "losers", "mexicans", "arabs", "africans", "asians", "indians",
    "natives", "illegals", "christians", "catholics", "atheists", "homosexuals", "palestinians", "israelis",
    "feminists", "(?<!this )(?<!that )(?<!every )(?<!any )(?<!some )pm", "premier", "premiers", "mps?", "mlas?", "mpps?", "councill?ors?", "ministers", "presidents",
    "senators", "mayors", "judges", "governors?", "editors?", "reporters", "authors", "writers", "protest[eo]rs?",
    "activists?", "officials", "bureaucrats?", "lawyers?", "leaders?", "ceos?", "moderators?",
)
_DETERMINER = _any("the", "this", "that", "these", "those", "every", "all", "all the", "all these", "all those",
                   "all of the", "all of these", "all of those", "any", "some")
_SOME_PEOPLE = rf"{_DETERMINER} (?:[a-z]+ ){{0,2}}{_PERSON}"  # "that guy", "all these worthless fools"
_SOMEONES = rf"{_SOME_PEOPLE}{_APOSTROPHE}s"
"""One person's possessive, whose body a blow is aimed at: "the minister's head" (not a plural's, "the premiers' heads
together", nor a pronoun's, which the acts name with ``_POSSESSIVE``)."""
_NOT_BODY = rf"(?!{_any(*(f' {word}' for word in ('together', 'out from', 'time', 'office', 'offices', 'count', 'start', 'table', 'supply', 'supplies', 'sales', 'deal', 'deals', 'budget', 'shipments', 'exports', 'trade', 'race', 'of')))}\b)"
"""Not a body part: "the premier's head office", "the minister's arms deal", "knock the mayor's heads together"."""
_GROUP = _any("all", "both", "two", "guys", "people", "lot", "idiots", "morons", "bastards", "bitches", "clowns")
_EACH = _any("all", "each", "every one", "everyone", "each one", "both", "any", "some", "every last one",
             "each and every one", "every single one", "the lot")
_WHOEVER = _any("whoever", *(f"{who} (?:who|that)" for who in ("anyone", "anybody", "everyone", "everybody")))
"""Whoever did a thing, as the target of an act: "I will kill whoever signed this"."""
_TARGET = _any(
    rf"{_OBJECT}(?: {_GROUP})?{_END_OR_QUOTE}",
    rf"{_EACH} of {_any(_YOU, 'them', f'{_Q}em')}{_END_OR_QUOTE}",
    rf"{_WHOEVER}{_END}",
    rf"{_POSSESSIVE} (?:{_any('whole', 'entire', 'little', 'stupid', 'fucking', 'fat')} )?{_KIN}{_END}",
    rf"{_SOME_PEOPLE}{_END}",
)
_SUBJECT = _any(  # whose fate a wish or a judgement is about
    _YOU, "he", "she", "they", f"you{_Q}re", f"they{_Q}re", f"he{_Q}s", f"she{_Q}s", rf"{_YOU} {_GROUP}",
    _SOME_PEOPLE,
    rf"people like (?:{_OBJECT}|that|this|[a-z]+)",
    _any("anyone", "anybody", "whoever", "everyone", "everybody", "people", "those", "all those")
    + r" (?:who|that) [^.!?;\n]{1,60}?",
)
_ON_THE_WAY = _ON_THE_WAY.replace("{target}", _TARGET).replace("{you}", _any(_YOU, "he", "she", "they"))

# -- the act ----------------------------------------------------------------------------------------

_NOT_VIOLENCE = (  # complements that turn a violent verb into a figure of speech
    r"(?! (?:with (?:kindness|facts|logic|taxes|regulations?|sanctions|tariffs|fees|paperwork|red tape|rules|"
    r"bureaucracy|a (?:lawsuit|fine|suit|ticket|tax|tariff|bill|charge|fee|penalty))|at the (?:polls|ballot box|"
    r"box office)|in (?:the )?(?:election|elections|polls|ratings|court|debate|market|marketplace|playoffs|finals?|"
    r"game|match|race|primaries|primary|vote|senate|house|legislature|wallet|pocket|pocketbook|back|paperwork|"
    r"debt|markets)\b|on (?:the )?(?:field|court|ice|price|taxes)\b|(?:economically|financially|politically|"
    r"electorally|softly)\b|where it hurts|with your own words|(?:and bring (?:them|him|her|you) )?to justice|"
    r"from under|into (?:account|consideration)))"
)
_BODY = _any(
    "neck", "necks", "legs?", "arms?", "face", "faces", "jaw", "nose", "bones", "skulls?", "fingers", "knees",
    "kneecaps", "teeth", "ribs", "head", "heads", "throats?", "eyes?",
)
_BLOW_TO = _any(
    "face", "head", "teeth", "nuts", "balls", "groin", "ribs", "stomach", "gut", "guts", "mouth", "jaw", "throat",
    "neck", "chest", "heart", "eyes?", "kneecaps?", "knees?", "skull", "temple", "spine", "dick",
)
_OUT_OF = _any("shit", "crap", "hell", "living daylights", "snot", "stuffing", "daylights", "piss", "fuck")
_SENSELESS = _any("up", "to death", "senseless", "to a pulp", "black and blue", "bloody", "within an inch",
                  "half to death", "unconscious", "till", "until")
_NOT_AT_ONE = _any("an?", "the", "some", "my", "our", "your", "a quick", "over", "off", "down", "back", "straight",
                   "up", "me", "us", "word")  # "shoot you an email", "shoot them down"
_NOT_HANGED = _any("out", "up", "on", "around", "with", "onto", "in there", "loose", "tight", "ten", "over")
_BUILDING = _any("house", "home", "car", "office", "place", "church", "mosque", "synagogue", "school")
_SHOT = _any("a bullet", "bullets", "one", "a round", "a few rounds", "some lead", "lead", "a knife", "a blade",
             "an axe", "a cap", "a slug", "two", "holes")
_PLACE_OF_DEATH = _any("hospital", "grave", "ground", "ditch", "coffin", "casket", "body bag", "morgue",
                       "wheelchair", "icu", "early grave", "grave ?yard")
_NASTY = _any("fucking", "stupid", "fat", "ugly", "little", "scrawny", "skinny", "pretty", "miserable")
_TO_PIECES = _any("up", "open", "to pieces", "into pieces", "to bits", "into bits", "to shreds", "apart",
                  "limb from limb")
_SUFFER = _any("bleed", "suffer", "scream", "beg for mercy", "beg for your life", "beg for death", "disappear")
_ONE = _any(rf"{_any(_YOU, 'him', 'her')}(?: {_GROUP})?{_END}", rf"{_EACH} of {_YOU}{_END}",
           rf"{_POSSESSIVE} (?:whole |entire )?{_KIN}{_END}", rf"{_any(_YOU, 'him', 'her')} and {_POSSESSIVE} (?:whole |entire )?{_KIN}{_END}")
"""A person pointed at, for acts that take a thing or a crowd as often ("poison them against the merger")."""
_STOP = r" ?(?:[.!?,;:)]|$)"
"""Where a clause stops: a mark that ends it, or the text's end (for lookaheads after a phrase)."""
_CLAUSE_END = (rf"(?={_STOP}| {_any('and', 'if', 'soon', 'tonight', 'tomorrow', 'now', 'one day', 'someday', 'too', 'slowly', 'dead', 'in your sleep', 'while you sleep')}\b| with (?:some |a |an )?{_any('rat poison', 'arsenic', 'cyanide', 'antifreeze', 'ricin', 'polonium', 'novichok', 'bleach', 'bomb', 'car bomb', 'pipe bomb', 'grenade', 'c4', 'dynamite', 'ied')}\b)")
_BLOWN_END = rf"{_CLAUSE_END}(?! ?,? (?:and )?(?:then )?{_any('frame', 'print', 'crop', 'hang', 'post', 'put', 'pin', 'send', 'enlarge', 'zoom')}\b)"
"""Where poisoning or blowing up a person must end its clause: "I will poison you." is a threat, "I'll blow you up on
Twitter" and "bomb you with questions" are not."""
_ARSON = ("burn", "torch", "bomb", "firebomb")
"""Verbs that burn or bomb a person's building (``_BUILDING``): "burn your house down", "bomb his car"."""
_ASS = rf"{_POSSESSIVE} (?:{_any('sorry', 'fat', 'stupid', 'lazy', 'whole', 'fucking', 'little', 'skinny')} )?ass(?:es)?"
"""The one body part a kick is aimed at in so many words: "kick your sorry ass" (not "kick the habit")."""
_FOOD = ("coffee", "tea", "drink", "drinks", "drinking water", "water", "food", "meal", "meals", "dinner", "lunch",
         "breakfast", "soup", "beer", "wine", "juice", "milk", "soda", "coke")
_POISONED = rf"{_any('your', 'ur', 'yer', 'his', 'her', _SOMEONES)} {_any(*_FOOD)}{_END}{_CLAUSE_END}"
"""A person's food or drink, pointed at and ending its clause, as what is poisoned: "poison your coffee", "put poison
in his drink." Not a thing's ("poison the economy", "poison ivy in your garden", "poison your mind"), not one that goes
on ("poison your coffee with too much sugar", "put poison in your water butt for the mosquitoes"), nor "their" food or
water, said of wells, crops and wars."""
_POISON_INTO = "(?:some |rat )?poison (?:in|into)"
"""Poison put into something: "put (some) (rat) poison in your food"."""


def _acts(s: str) -> str:
    """The acts of violence with their target; ``s`` is the verb ending allowed (``_S``, or ``""`` for imperatives)."""
    # In this order: Python's re takes the first alternative that fits, and the span should take in the most.
    return _first(
        rf"(?:beat|kick|knock|smack|slap|punch){s} the {_OUT_OF} out of {_TARGET}",
        rf"(?:kick|punch|hit|smack|slap|shoot|stab|knee|headbutt|cap|pop){s} {_TARGET} in the {_BLOW_TO}",
        rf"choke{s} {_TARGET}(?! (?:off|out|up)\b)",
        rf"drown{s} {_TARGET}(?! in\b)",
        rf"shoot{s} {_TARGET}(?! {_NOT_AT_ONE}\b)",
        rf"hang{s} {_TARGET}(?! {_NOT_HANGED}\b)",
        rf"(?:gun|hunt|mow){s} {_TARGET} down|(?:gun|hunt|mow){s} down {_TARGET}",
        rf"beat{s} {_TARGET} {_SENSELESS}",
        rf"beat{s} up {_TARGET}",
        rf"kick{s} {_ASS}{_END}(?! at\b)",  # not "kick your assumptions", nor "kick your ass at chess"
        rf"(?:fuck|mess|beat|cut|carve|rough|slice|smash|jack|light){s} {_TARGET} up",
        rf"(?:fuck|mess|beat|carve|rough|slice){s} up {_TARGET}",
        rf"(?:burn|skin|bury|boil|roast){s} {_TARGET} alive|burn{s} {_TARGET} at the stake",
        rf"{_any(*_ARSON)}{s} (?:down )?{_POSSESSIVE} {_BUILDING}(?:e?s)?{_END}(?: down)?",  # not "your household trash"
        rf"blow{s} up {_POSSESSIVE} {_BUILDING}",
        rf"blow{s} {_ONE} (?:the fuck )?up{_BLOWN_END}|poison{s} {_ONE}{_CLAUSE_END}",
        rf"poison{s} {_POISONED}|(?:put|slip){s} {_POISON_INTO} {_POISONED}",
        rf"blow{s} {_ONE} (?:up )?to {_any('bits', 'pieces', 'smithereens', 'kingdom come')}",
        rf"(?:have|get){s} {_TARGET} (?:killed|murdered|stabbed|lynched|beaten to death)",
        rf"set{s} {_TARGET} (?:on fire|alight|ablaze)",
        rf"run{s} {_TARGET} over|run{s} over {_TARGET}",
        rf"(?:put|pump|stick|plant|shove|sink|lodge|drive){s} {_SHOT} (?:in|into|through|between) "
        rf"(?:{_TARGET}|{_POSSESSIVE} (?:{_BODY}|brains?|chest|back|heart|gut|belly))",
        rf"put{s} {_TARGET} (?:in|into) (?:(?:the|a|an) )?{_PLACE_OF_DEATH}{_END}",
        rf"put{s} {_TARGET} six feet under",
        rf"(?:put|pump|stick|plant|shove|sink|lodge|drive){s} {_SHOT} (?:in|into|through|between) {_SOMEONES} "
        rf"(?:{_BODY}|brains?|chest|heart|gut|belly){_END}{_NOT_BODY}",
        rf"(?:break|snap|crush|smash|bash|cave in|slit|crack|split open|bust){s} {_SOMEONES} (?:{_NASTY} )?"
        rf"{_any('neck', 'necks', 'skull', 'jaw', 'nose', 'throat', 'legs?', 'arms?', 'head', 'face', 'teeth', 'ribs', 'kneecaps', 'fingers', 'bones')}"
        rf"{_END}{_NOT_BODY}",
        rf"(?:cut|chop|hack|blow|rip|tear){s} off {_SOMEONES} (?:{_NASTY} )?"
        rf"{_any('head', 'balls', 'dick', 'hands', 'fingers', 'tongue')}{_END}{_NOT_BODY}",
        rf"(?:break|snap|crush|smash|bash|cave|kick|knock|punch|rip|tear|wring|slit|cut|slash|gouge|bust|split|crack)"
        rf"{s} (?:in |off |out |open )?{_POSSESSIVE} (?:{_NASTY} )?{_BODY}"
        rf"(?: {_any('in', 'off', 'out', 'open', 'apart', 'clean off')})?",
        rf"(?:cut|chop|hack|rip|tear|slice){s} {_TARGET} {_TO_PIECES}",
        rf"(?:cut|chop|hack|blow|rip|tear){s} (?:off |out )?{_POSSESSIVE} (?:fucking |stupid |fat |ugly )?"
        rf"{_any('head', 'heads', 'balls', 'dick', 'hands', 'fingers', 'tongue', 'brains')}(?: off| out)?",
        rf"(?:end|take|snuff out){s} {_POSSESSIVE} (?:miserable |pathetic |worthless |sorry |fucking )?"
        r"(?:life|lives|existence)",
        rf"make{s} {_TARGET} {_SUFFER}",
        rf"(?:kill|murder|slaughter|butcher|behead|decapitate|strangle|throttle|shank|lynch|torture|rape|maim|"
        rf"mutilate|dismember|bludgeon|castrate|gut|hurt|harm|punch|slap|smack|knife|stomp|curb ?stomp|"
        rf"waterboard|pistol ?whip|skewer|stab|kil){s} {_TARGET}",
    ) + _NOT_VIOLENCE


_ACT = _acts(_S)
_ACT_BASE = _acts("")  # imperatives: "Find them and kill them."
_ING = f"in(?:g|{_APOSTROPHE})?"  # killin'
_DOING_VERBS = ("killing", "murdering", "slaughtering", "butchering", "beheading", "strangling", "lynching", "torturing",
                "stabbing", "gutting", "raping", "maiming", "mutilating", "knifing", "hurting")
"""Acts in the progressive that take any target, also written without their g ("killin'", "stabbin")."""
_BURNING = tuple(f"{verb}ing" for verb in _ARSON)
_DOING_SOME_VERBS = (*_BURNING, "kicking")
"""Acts in the progressive that take only a person's building or ass, also written without their g ("kickin")."""
_DOING = _first(  # after "I'll be": "I'll be killing you soon" (not shooting or hanging them: photos and pictures)
    rf"{_any(*_DOING_VERBS).replace('ing', _ING)} {_TARGET}",
    rf"shooting {_TARGET} (?:in the {_BLOW_TO}|dead)\b",
    rf"{_any('cutting', 'slitting', 'slashing')} {_POSSESSIVE} throats?\b|{_any('breaking', 'snapping')} {_POSSESSIVE} (?:{_NASTY} )?necks?\b",
    rf"hunting {_TARGET} down|hunting down {_TARGET}",
    rf"beating {_TARGET} {_SENSELESS}|beating up {_TARGET}|beating the {_OUT_OF} out of {_TARGET}",
    rf"poisoning {_ONE}{_CLAUSE_END}|blowing {_ONE} (?:the fuck )?up{_BLOWN_END}",
    rf"hanging {_ONE}(?! {_NOT_HANGED}\b)",  # a person, not pictures: "I'll be hanging you from a tree"
    rf"poisoning {_POISONED}|{_any('putting', 'slipping')} {_POISON_INTO} {_POISONED}",
    # "I'll be burning your house down", "I'll be torching your car tonight", where the clause ends; not "burning your
    # home videos to DVD" (the simple "burn your home" ends at the word only), "burning your house down in Minecraft",
    # nor the old leaves or the midnight oil (no possessive)
    rf"{_any(*_BURNING).replace('ing', _ING)} (?:down )?{_POSSESSIVE} {_BUILDING}(?:e?s)?{_END}"
    rf"(?: down| to the ground)?{_CLAUSE_END}",
    # "I'll be kicking your ass", where the clause ends; not "kicking your ass at chess" or "in Mario Kart", nor
    # "kicking off" or "kicking your habit"
    rf"kick{_ING} {_ASS}{_END}{_CLAUSE_END}",
) + _NOT_VIOLENCE
_WEAPONS = ("knife", "knives", "gun", "guns", "rifle", "rifles", "shotgun", "shotguns", "pistol", "handgun", "revolver",
            "axe", "machete", "machetes", "baseball bat", "bat", "hammer", "crowbar", "blade", "chainsaw", "glock",
            "ar[- ]?15", "sword", "noose", "12[- ]?gauge", "9 ?mm")
_WEAPON = _any(*_WEAPONS)
_TOOL = _any("nail", "glue", "hot glue", "water", "squirt", "nerf", "staple", "heat", "caulking", "caulk", "spray",
             "radar", "speed", "foam", "toy", "plastic", "wooden", "rubber", "bread", "butter", "carving", "paring",
             "fillet", "steak", "putty", "utility", "pizza", "cake", "starting", "paint", "paintball", "bb", "potato",
             "meat", "chef", "cookie", "camera", "sniper", "laser", "light", "ray", "rail", "plasma", "cricket")
_ARMS = rf"(?:{_any('a', 'an', 'my', 'our', 'the', 'some')} )?(?:(?!{_TOOL} )[a-z]+ ){{0,2}}"
"""What may come between "with" and a weapon: "with my loaded gun", not "with a nail gun"."""
_NAMES_CALLED = ("bitch", "asshole", "punk", "pig", "coward", "scum")
"""Insults a menace ends on, addressed to its target ("I'm coming for you with a knife, bitch")."""
_ARMED_TARGET = _any(rf"{_any(_YOU, 'him', _HER)}(?: {_GROUP})?{_END_OR_QUOTE}", rf"{_EACH} of {_YOU}{_END_OR_QUOTE}",
                     rf"{_POSSESSIVE} (?:whole |entire )?{_KIN}{_END}", rf"{_SOME_PEOPLE}{_END}")
_ARMED = (rf"(?:be )?(?:{_ADVERB} )?(?:{_any('coming', 'come', 'waiting', 'wait')} (?:{_any('outside', 'downstairs', 'out front', 'round the corner')} )?"
          rf"{_any('for', 'after')} {_ARMED_TARGET}|{_any('coming', 'come')} (?:to )?get {_ARMED_TARGET}"
          rf"|(?:{_any('coming', 'come', 'be', 'waiting', 'wait')} (?:over |round |outside |at |to )?|(?:outside|at) )"
          rf"{_any('your', 'ur', 'his', 'her')} "
          rf"{_any('house', 'home', 'place', 'door', 'work', 'school', 'office')}) "
          rf"with {_ARMS}{_WEAPON}{_END}"
          rf"(?={_STOP}| (?:and|&) (?:{_any('i', 'we', 'you', 'u')}\b|(?:a |an |my )?(?:[a-z]+ )?{_WEAPON}{_END})"
          rf"| {_any('in my hand', 'in hand', 'loaded', 'tonight', 'tomorrow', 'soon', 'one day', 'you', 'u', *_NAMES_CALLED)}\b)")
"""Coming for a person armed, after an intent or "I'm": "I'll be coming for you with a knife", "I'm waiting for you
with a gun", "I'm outside your house with a knife" (not "with a hammer and nails")."""
_GEAR = ("axe", "bat", "baseball bat", "hammer", "crowbar", "chainsaw")
"""Weapons that are as often a tool or a game's gear, which a friend brings when they see you ("see you tomorrow with a
hammer, the deck won't build itself")."""
_SOON = _any("soon", "real soon", "very soon", "later", "tonight", "tomorrow", "again", "around", "one day", "someday")
_SEEN_END = rf"(?= ?(?:[.!?;:)]|$)| ?, ?{_any(*_NAMES_CALLED, 'fucker', 'motherfucker')}\b)"
"""Where seeing a person armed must end: its sentence, or a comma before an insult. After a comma, a plan often follows
("see you tomorrow with a gun, the paintball field opens at nine", "with a knife, we're carving the turkey")."""
_SEEN_ARMED = (rf"{_any(_YOU, f'{_YOU} {_GROUP}', f'{_EACH} of {_YOU}')}(?: {_SOON})? with (?!{_POSSESSIVE} )"
               rf"{_ARMS}{_any(*(weapon for weapon in _WEAPONS if weapon not in _GEAR))}{_END}{_SEEN_END}")
"""You, seen next with a weapon that ends the sentence (``_SEEN_END``): "(see) you soon with a knife.", "you with a
gun, bitch". Not with your weapon ("see you soon with your shotgun, the ducks are back"), nor where more follows ("you
with the gun club", "you with a knife and fork", "with a gun, the paintball field opens"), nor anyone but you ("I'll
see him with a gun" is as often him holding it)."""
_AFTER_WILL = _first(*(f"(?<={will} )" for will in ("will", "shall", f"{_APOSTROPHE}ll", r"\bill", "gonna", "going to")))
_SEEING = _first(rf"(?:be|b) {_ADVERBS}see{_ING} {_SEEN_ARMED}", rf"{_AFTER_WILL}see {_SEEN_ARMED}")
"""Seeing you armed, after an intent: "I'll be seeing you with a knife", "we'll see you tonight with guns". A bare
"see" only right after a future ("will", "'ll", "gonna"): "I'd love to see you with a gun" is you holding it."""

# -- what should be done to them, and dying ---------------------------------------------------------

_DONE = _any(  # participles for wishes and judgements: "I hope you get shot", "he should be hanged"
    "killed", "murdered", r"shot(?! (?:down|in|at|with|on (?!sight))\b)", "shot dead", "shot on sight",
    "stabbed", "raped", "beaten to death", "beaten up", "beaten senseless", "beaten to a pulp",
    "beaten black and blue", "lynched", "hanged", r"hung(?! (?:up|out|over|on|jury|parliament)\b)", "strangled",
    "tortured", "butchered", "slaughtered", "beheaded", "decapitated", "hurt", "harmed", "run over",
    "set on fire", "burned alive", "burnt alive", "gunned down", "punched", "slapped", "knifed", "maimed",
    "mutilated", "castrated", "drowned", "choked", "curb ?stomped", "stomped", "waterboarded", "skinned alive",
    "hit by (?:a|an) (?:bus|truck|car|train|semi|drunk driver)", "taken out (?:back )?and shot",
    "lined up (?:against a wall )?and shot", "put (?:up )?against (?:a|the) wall and shot", "strung up",
    "drawn and quartered", "burn(?:ed|t) at the stake", "tarred and feathered",
    "kicked in the (?:face|head|teeth|nuts|balls)", "punched in the (?:face|head|mouth|teeth)",
    "shot in the (?:face|head|back|kneecaps?)", f"poisoned(?={_STOP}| and die)",
    f"blown up(?={_STOP}| and die| by (?:a |an )?(?:bomb|car bomb|missile|drone|grenade|ied))",
    "blown to (?:bits|pieces|smithereens|kingdom come)",
) + _NOT_VIOLENCE
_DONE_TO_ANYONE = _any(  # participles that name a killing whoever the subject is: "traitors should be hanged"
    "lynched", "hanged", "beheaded", "shot on sight", "shot dead", "taken out (?:back )?and shot",
    "lined up (?:against a wall )?and shot", "put (?:up )?against (?:a|the) wall and shot", "strung up",
    "drawn and quartered", "burn(?:ed|t) at the stake", "tarred and feathered", "burned alive", "burnt alive",
    "beaten to death", "stoned to death", "shot in the head",
)
_CALL_FOR = _any("should", "must", "ought to", "oughta", "need to", "needs to", "have to", "has to", "gotta")
"""A call for something to be done (not ``deserve(d) to``, which judges past events: "he deserved to be shot")."""
_DESERVE = _any(_CALL_FOR, "deserve to", "deserves to", "deserved to")
_BE = _any("be", "get", "be fucking", "get fucking")
_BECOME = _any("get", "gets", "got", "is", "are", "was", "were", "be", "will be", "will get")
_DIE = _any(
    "die", "dies", "drop dead", "drops dead", "die in a fire", "dies in a fire", "were dead", "was dead",
    "be dead", "would die", "will die", "get cancer and die", "choke and die", "suffer and die", "die slowly",
    "die painfully", "die a slow death", "die a painful death", "dies a slow death", "dies a painful death",
) + (r"(?! (?:out|off|down|in (?:prison|jail|his cell|her cell|their cells|peace)|of old age|peacefully|happy|"
     r"happily|old|rich|alone|a virgin|trying|soon after)\b)")  # "I hope he dies in prison" is about sentencing
_DESERVED = _any(
    "a bullet", "a bullet in the head", "a beating", "a punch in the face", "a punch in the mouth",
    "a good beating", "a beatdown", "a bullet between the eyes", "to die", "to be dead", "death", "a slow death",
    "a painful death", "to hang", "to swing", "a rope",
)
_DEAD = _any("dead", "killed", "murdered", "shot", "hanged", "strung up", "lynched", "beaten up", "beaten to death",
             "six feet under", "in a body bag", "in the ground", "in a coffin")
_SEEN = _any("die", "dead", "hang", "hanged", "hung", "strung up", "burn", "shot", "killed", "lynched", "beaten",
             "bleed")
_YOU_ALL = _any(_YOU, rf"{_YOU} {_GROUP}")
_SOMEDAY = _any("would", "will", "can", "could", "does", "finally", "just", "eventually", "one day", "soon")
_WHERE_THEY_LIVE = (rf"where {_any(_YOU, 'he', 'she', 'they', _SOME_PEOPLE, f'{_POSSESSIVE} {_KIN}')} "
                    rf"{_any('live', 'lives', 'sleep', 'sleeps', 'work', 'works', 'go to school')}\b"
                    r"(?! ?[:;-] )")  # not "I know where you live: in a fantasy world"
"""Where a person lives, sleeps or works, as a menace names it: "I know where you live"."""
_SELF = _any("yourself", "urself", "ur self", "your self", "yourselves", "ya self", "yaself", "yoself", "yo self")
_URGE_START = r"(?:^|(?<=[.!?] )|(?<=[.!?]))"
"""Where an urging to self-harm may begin: the comment's or a sentence's start, not after a colon, a comma or a
quotation mark ("The bully wrote: go kill yourself.", "Smoke if you want, kill yourself, just not near my kids")."""
_URGED = _any(
    "just", "please", "pls", "plz", "go", "go and", "now",
    f"{_YOU} should", f"{_YOU} need to", f"{_YOU} ought to", f"{_YOU} must",
    rf"do {_any('us', 'us all', 'everyone', 'everybody', 'the world', 'humanity', 'society')} a favou?r and",
)
"""What may come before an urging to self-harm: "Go kill yourself", "You should just kill yourself", "Do us all a
favour and jump off a bridge"."""
_NAMED = _any("loser", "idiot", "moron", "bitch", "retard", "freak", "fag", "faggot", "clown", "troll", "scum",
              "fool", "creep", "cunt", "dumbass", "asshole", "pos", "piece of shit", "piece of garbage",
              "piece of trash", "waste of space", "waste of oxygen")
_URGE_END = (rf"(?= ?(?:[.!;)]|$)| ?,? {_any('already', 'now', 'please', 'pls', 'plz', 'asap', 'today', 'tonight', 'lol', 'lmao', 'ffs', 'tbh', 'irl', 'in a fire', _NAMED)}\b"
             rf"| ?,? {_any('you', 'u')} (?:[a-z]+ ){{0,2}}{_NAMED}\b"
             rf"| ?, ?{_any('no one', 'noone', 'nobody')} {_any('likes', 'loves', 'cares', 'wants', 'will miss', 'would miss')}\b)")
"""Where an urging to self-harm ends: its sentence, or a word of contempt after it ("Go kill yourself, loser"), not a
comma or "and" ("kill yourself and your friends", "jump off a bridge, it's the best thing I've done"), nor what makes
it a figure of speech ("kill yourself laughing", "hang yourself a picture")."""
_SELF_HARM = _any(
    rf"{_any('kill', 'hang', 'off', 'neck', 'drown', 'unalive')} {_SELF}", "commit suicide", "eat a bullet",
    "play in (?:the )?traffic", rf"jump in front of (?:a|the) {_any('train', 'bus', 'car', 'truck', 'subway')}",
    rf"{_any('jump', 'leap')} {_any('off', 'from')} (?:a|the|the nearest|a tall|a high) "
    rf"{_any('bridge', 'cliff', 'building', 'roof', 'skyscraper', 'tower', 'balcony')}",
    rf"{_any('slit', 'cut')} {_any('your', 'ur')} {_any('wrists', 'wrist')}",
)
"""Acts of self-harm a comment urges on its reader. Not "shoot yourself" (basketball, photography), "stab yourself"
(an EpiPen), "rope yourself" (climbing), "off a ledge" (games), which a review found in civil comments."""
_GO_BLEACH = rf"go (?:and )?{_any('drink', 'chug')} (?:some |a (?:gallon|bottle|cup|glass) of )?bleach"
"""Drinking bleach, urged with "go" only: news comments quote "drink bleach" as 2020's medical advice."""
_SELF_HARM_FIRST = _any(
    _ADVERB, _YOU, "please", "pls", "plz", "do", "why", "kys",  # _URGED's first words, and the rest's
    "kill", "hang", "off", "neck", "drown", "unalive", "commit", "eat", "play", "jump", "leap", "slit", "cut",  # _SELF_HARM's
)
"""A word an urging to self-harm may begin with, tested before the costly sentence-start lookbehinds."""
_WANT_TO_SEE = _any("want", "wish", "need", "like", "love", "wanna see", "want to see", "like to see", "love to see")

_THREAT_PATTERNS: tuple[tuple[str, str], ...] = (
    # One pattern, so that the intent is looked for once at each position: its alternatives cost the most.
    ("intent", rf"{_INTENT} {_ADVERBS}"
               rf"{_first(f'(?:{_ON_THE_WAY} (?:and |to )?{_ADVERBS})?{_ACT}', f'(?:be|b) {_ADVERBS}{_DOING}', _ARMED, _SEEING)}"),
    ("menace", rf"\b(?=i|we){_NOT_OWN}(?:i{_Q}m|i am|we{_APOSTROPHE}re|we are) {_ARMED}"),
    ("menace", rf"(?=see ){_CLAUSE_START}see {_SEEN_ARMED}"),  # "See you soon with a gun.": the subject dropped
    ("call", rf"{_CALL}(?:{_ADVERB} )?{_ACT}"),
    ("call", (  # an imperative: "Find them and kill them.", "Castrate this guy."
        rf"{_SENTENCE_START}(?:{_any('just', 'please', 'now', 'go', 'go and', 'come and', 'so', 'then')} )?"
        rf"(?:{_any('find', 'round', 'line', 'catch', 'hunt', 'track', 'drag', 'take')} {_TARGET}"
        rf"(?: {_any('up', 'down', 'out', 'out back', 'outside')})? and )?{_ACT_BASE}(?! ?\?)"
    )),
    ("wish", rf"{_HOPE}{_any(_COMPANY, 'they', 'he', 'she', 'you', 'u', 'someone else')} (?:{_SOMEDAY} )?{_ACT}"),
    ("wish", rf"{_HOPE}{_SUBJECT} (?:{_ADVERB} )?{_BECOME} (?:{_ADVERB} )?{_DONE}"),
    ("wish", rf"{_HOPE}(?:{_ADVERB} )?(?:get|gets) (?:{_ADVERB} )?{_DONE}"),  # "thugs that I hope get killed"
    ("wish", rf"{_HOPE}{_SUBJECT} (?:{_ADVERB} )?{_DIE}\b"),
    ("wish", rf"(?=just |please |pls |plz |now |go ){_CLAUSE_START}(?:just |please |pls |plz |now )?go (?:and )?"
             r"(?:die|drop dead|die in a fire|get shot|get killed)\b"),
    # Urging the reader to harm themselves (self-harm incitement), in the imperative at a sentence's start.
    ("incitement", rf"(?={_SELF_HARM_FIRST}\b){_URGE_START}(?:{_URGED} )?(?:{_ADVERB} ){{0,2}}"
                   rf"{_first(_SELF_HARM, _GO_BLEACH, 'kys')}"
                   rf"{_URGE_END}"),
    ("incitement", rf"(?=why ){_URGE_START}(?:why don{_Q}t {_YOU}|why not) (?:{_ADVERB} ){{0,2}}{_SELF_HARM}"
                   rf"(?: already| now)?(?:(?= ?\?)|{_URGE_END})"),
    ("wish", rf"(?=may ){_CLAUSE_START}may {_SUBJECT} (?:{_ADVERB} )?"
             rf"(?:{_any('die', 'drown', 'choke and die', 'die in a fire', 'drop dead')}|be {_DONE})\b"),
    ("wish", rf"{_I}(?:{_APOSTROPHE}d| would)? (?:{_ADVERB} )?{_WANT_TO_SEE} {_TARGET} {_DEAD}\b"),
    ("wish", rf"\b{_any('hope', 'love', 'like', 'want', 'wait', 'cannot wait', f'can{_Q}t wait', 'long')} to see "
             rf"{_TARGET} (?:all )?{_SEEN}\b"),
    ("judgement", rf"\b{_SUBJECT} (?:{_ADVERB} )?{_DESERVE} (?:{_ADVERB} )?{_BE} (?:{_ADVERB} )?{_DONE}"),
    ("judgement", rf"\b{_DESERVE} (?:{_ADVERB} )?{_BE} (?:{_ADVERB} )?{_DONE_TO_ANYONE}"),
    # "Trudeau should be shot.": a bare "shot" ending its clause is a person's fate, whoever is named (a film
    # "should be shot in Vancouver", a bill "shot down").
    ("judgement", rf"\b{_CALL_FOR} (?:{_ADVERB} )?be (?:{_ADVERB} )?shot(?= ?(?:[.!;,]|$))"),
    ("judgement", rf"\b{_any(_YOU_ALL, f'you{_Q}re')} (?:{_ADVERB} )?(?:{_DESERVE}|are|is) (?:{_ADVERB} )?{_BE} "
                  rf"(?:{_ADVERB} )?beaten(?= ?(?:[.!?,;]|$))"),  # not "you deserve to be beaten in ..."
    ("judgement", rf"\b{_any(_YOU_ALL, 'he', 'she', 'they', _SOME_PEOPLE)} (?:{_ADVERB} )?"
                  rf"{_any('deserve', 'deserves', 'deserved', 'need', 'needs')} {_DESERVED}{_END}"
                  r"(?![ -]?(?:train|point|proof))"),  # not "the people deserve a bullet train"
    ("judgement", rf"\b{_YOU_ALL} (?:{_ADVERB} )?{_any('should', 'must', 'need to', 'ought to', 'better')} "
                  rf"(?:{_ADVERB} )?{_any('die', 'drop dead', 'be dead', 'die in a fire')}\b"),
    ("menace", rf"{_I} (?:{_ADVERB} )?(?:know|found out|have found out|found) {_WHERE_THEY_LIVE}"),
    ("menace", rf"\b(?:{_YOU} ?{_Q}d |{_YOU} had |{_YOU} )?better (?:start )?"
               rf"(?:watch(?:ing)? {_any('your', 'ur')} back|sleep with one eye open)\b"),
    ("menace", rf"\bwatch {_any('your', 'ur')} back[,.!]* or (?:else|{_YOU}|{_any('i', 'we')})\b"),
    ("menace", rf"\b(?:a|one|this) {_any('bullet', 'round', 'slug')} (?:with|that has) {_any('your', 'ur', 'you')} (?:fucking |own )?name (?:{_any('written', 'engraved', 'carved', 'etched')} )?on it"),
    ("menace", rf"\b{_any(_YOU, f'you{_Q}re', 'ur')} (?:{_any('are', 'is', 'r')} )?(?:a )?dead "
               rf"{_any('man', 'woman', 'meat', 'men', 'women')}{_END_OR_QUOTE}(?! walking)"),
    ("menace", rf"\b(?=y|u){_NOT_MENACE}{_any(f'you{_Q}re', 'you are', 'ur', 'your', 'youre')} "
               rf"(?:{_any('so', 'already', 'as good as')} )?dead"
               rf"(?= ?(?:[.!,;]|$)| {_any('if', 'when', 'once', 'meat', 'man', 'woman')}\b)"),
)
"""(kind, pattern) for each kind of threat; ``find_threats`` reports where any of them matched."""


@functools.cache
def threat_pattern() -> re.Pattern:
    """Every kind's pattern as one compiled alternation, compiled at the first comment that has a key word.

    Compiling it takes about half a second: at import time every ``moderate score --text`` would pay it, and
    most comments (those without a ``_KEY_WORDS`` word) never need it.
    """
    return re.compile("|".join(f"(?:{pattern})" for _, pattern in _THREAT_PATTERNS))


_VERBS = (  # the acts' verbs, and a word that every act without one of them has (its victim's fate or place)
    "kill", "murder", "slaughter", "butcher", "behead", "decapitate", "strangle", "throttle", "shank", "lynch",
    "torture", "rape", "maim", "mutilate", "dismember", "bludgeon", "castrate", "gut", "hurt", "harm", "punch",
    "slap", "smack", "knife", "stomp", "curbstomp", "waterboard", "whip", "skewer", "stab", "choke", "drown", "kil",
    "bomb", "firebomb", "torch",
    "shoot", "hang", "gun", "hunt", "mow", "beat", "kick", "knock", "hit", "knee", "headbutt", "cap", "pop",
    "fuck", "mess", "cut", "carve", "rough", "slice", "smash", "jack", "light", "burn", "skin", "bury", "boil",
    "roast", "run", "put", "pump", "stick", "plant", "shove", "sink", "lodge", "drive", "break", "snap",
    "crush", "bash", "cave", "rip", "tear", "wring", "slit", "slash", "gouge", "bust", "split", "crack", "chop",
    "hack", "blow", "poison", "bleed", "suffer", "scream", "beg", "disappear", "fire", "alight", "ablaze", "alive",
    "stake", "life", "lives", "existence", "hospital", "grave", "graveyard", "ground", "ditch", "coffin",
    "casket", "bag", "morgue", "wheelchair", "icu", "feet",
)
_KEY_WORDS = frozenset(
    [*_VERBS, *(f"{verb}s" for verb in _VERBS), *(f"{verb}es" for verb in _VERBS)]
    + """killed murdered shot stabbed raped beaten lynched hanged hung strangled tortured butchered slaughtered
    beheaded decapitated harmed set burned burnt gunned punched slapped knifed maimed mutilated castrated drowned
    choked stomped curbstomped waterboarded skinned taken lined strung drawn tarred kicked stoned die dies dead
    death bullet beating beatdown swing rope where watch watching eye poisoned blown blowing hunting poisoning
    shooting cutting slitting slashing breaking snapping hanging round slug
    yourself urself yourselves yaself yoself self bleach jump leap kys suicide traffic""".split()
    + [verb[:cut] for verb in (*_DOING_VERBS, *_DOING_SOME_VERBS) for cut in (None, -1)]  # "stabbin": _DOING reads both
    + [word for weapon in _WEAPONS for word in re.findall("[a-z]+", weapon)]  # "ar[- ]?15": "ar"
)
"""Every threat phrase has one of these words (acts, their participles, dying, and the menaces' key words):
a comment with none of them is not searched (88% of UCC validation comments, measured once), and the
full patterns cost about a tenth of a millisecond per comment."""
_WORD = re.compile(r"[a-z]+")


def find_threats(text: str) -> list[Span]:
    """Return the explicit threats of violence in a comment, as spans into the raw text.

    Parameters
    ----------
    text : str
        The comment as written.

    Returns
    -------
    list of Span
        Non-overlapping spans in text order, of whole characters as drawn; ``text[span.begin:span.end]`` is the
        threatening phrase as written, and ``span.score`` is ``THREAT_SPAN_SCORE``. Empty when no pattern matches.
    """
    normalised = normalize(text)
    if _KEY_WORDS.isdisjoint(_WORD.findall(normalised)) or threat_pattern().search(normalised) is None:
        return []  # the common case costs one fast normalisation and a set lookup
    normalised, offsets = normalize_with_offsets(text)
    spans: list[Span] = []
    for match in threat_pattern().finditer(normalised):
        begin, end = match.span()
        if begin == end:
            continue
        # raw_range leaves out a trailing character the normaliser drops, even an accent or joiner of the last letter.
        raw_begin, raw_end = whole_characters(text, *raw_range(text, normalised, offsets, begin, end))
        if spans and raw_begin < spans[-1].end:  # a normaliser rewrite can map two matches into one raw word
            raw_begin = spans.pop().begin
        spans.append(Span(raw_begin, raw_end, THREAT_SPAN_SCORE))
    return spans
