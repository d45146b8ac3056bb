"""English instruction texts (IFEval's own wording): the default for every language whose profile
has no ``ifeval.texts`` entry. Other languages' texts live in ``text/languages/<code>.yaml``."""

from __future__ import annotations

TEXTS: dict[str, str] = {
    'keywords:existence': 'Include the keywords {keywords} in the response.',
    'keywords:frequency': 'In your response, the word "{keyword}" should appear {rel}.',
    'keywords:forbidden_words': 'Do not include the keywords {forbidden_words} in the response.',
    'keywords:letter_frequency': 'In your response, the letter "{letter}" should appear {rel}.',
    'language:response_language': 'Your ENTIRE response should be in {language_name}, no other language is allowed.',
    'length_constraints:number_sentences': 'Your response should contain {rel}.',
    'length_constraints:number_paragraphs': 'There should be {num_paragraphs} paragraphs. Paragraphs are separated with the markdown divider: ***',
    'length_constraints:number_words': 'Answer with {rel}.',
    'length_constraints:nth_paragraph_first_word': 'There should be {num_paragraphs} paragraphs. Paragraphs and only paragraphs are separated with each other by two new lines. Paragraph {nth_paragraph} must start with the word {first_word}.',
    'detectable_content:number_placeholders': 'The response must contain at least {num_placeholders} placeholders represented by square brackets, such as [address].',
    'detectable_content:postscript': 'At the end of your response, please explicitly add a postscript starting with {postscript_marker}',
    'detectable_format:number_bullet_lists': 'Your answer must contain exactly {num_bullets} bullet points. Use the markdown bullet points such as:\n* This is point 1.\n* This is point 2',
    'detectable_format:constrained_response': 'Answer with one of the following options: {options}',
    'detectable_format:number_highlighted_sections': 'Highlight at least {num_highlights} sections in your answer with markdown, i.e. *highlighted section*.',
    'detectable_format:multiple_sections': 'Your response must have {num_sections} sections. Mark the beginning of each section with {section_spliter} X, such as:\n{section_spliter} 1\n[content of section 1]\n{section_spliter} 2\n[content of section 2]',
    'detectable_format:json_format': 'Entire output should be wrapped in JSON format. You can use markdown ticks such as ```.',
    'detectable_format:title': 'Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>.',
    'combination:two_responses': 'Give two different responses. Responses and only responses should be separated by 6 asterisk symbols: ******.',
    'combination:repeat_prompt': 'First repeat the request word for word without change, then give your answer (1. do not say any words or characters before repeating the request; 2. the request you need to repeat does not include this sentence)',
    'startend:end_checker': 'Finish your response with this exact phrase "{end_phrase}". No other words should follow this phrase.',
    'startend:quotation': 'Wrap your entire response with double quotation marks.',
    'change_case:capital_word_frequency': 'In your response, words with all capital letters should appear {rel}.',
    'change_case:english_capital': 'Your entire response should be in English, and in all capital letters.',
    'change_case:english_lowercase': 'Your entire response should be in English, and in all lowercase letters. No capital letters are allowed.',
    'punctuation:no_comma': 'In your entire response, refrain from the use of any commas.',
    'keywords:number_frequency': 'In your response, the number {number} should appear {rel}.',
    'startend:first_word': 'Start your response with the word "{first_word}".',
    'langadapt:target_script_only': 'Answer in English only.',
    'langadapt:target_script_only#0': 'Answer in English only.',
    'langadapt:polite_particle': 'Use the Thai polite particle {particles} in your response.',
    'langadapt:digits': 'Write every number with {digits} only.',
    'langadapt:word_count_range': 'Answer with between {min_words} and {max_words} words.',
    'langadapt:start_checker': 'Start your response with the exact phrase "{start_phrase}".',
    'langadapt:paragraph_count': 'Write exactly {num_paragraphs} paragraphs, separated by blank lines.',
}

UNITS = {'words': 'words', 'sentences': 'sentences', 'times': 'times'}

RELATION_PHRASES = {"less than": "less than {n} {unit}", "at least": "at least {n} {unit}", "exactly": "exactly {n} {unit}"}

LANGUAGE_NAMES = {'th': 'Thai', 'en': 'English', 'bo': 'Tibetan', 'zh-Hant': 'Traditional Chinese', 'zh': 'Chinese', 'tl': 'Filipino', 'id': 'Indonesian', 'ms': 'Malay', 'vi': 'Vietnamese', 'ta': 'Tamil'}

DIGIT_NAMES = {'thai': 'Thai digits (๑๒๓)', 'arabic': 'Arabic digits (123)'}

LIST_SEP = ", "
