/**
 * Word lists for the task templates. Names are common English first names; most are single
 * GPT-2 tokens with a leading space, and each task keeps only those that are single tokens for
 * the tokenizer at hand, so swapping one name for another never changes a prompt's length.
 */
export type Gender = 'male' | 'female';

const MALE = [
  ...['John', 'James', 'Michael', 'David', 'Robert', 'Daniel', 'Thomas', 'Paul', 'Mark', 'Kevin'],
  ...['Brian', 'Jason', 'Ryan', 'Eric', 'Adam', 'Tom', 'Steven', 'Andrew', 'Richard', 'Charles'],
];
const FEMALE = [
  ...['Mary', 'Sarah', 'Lisa', 'Amy', 'Emily', 'Laura', 'Rachel', 'Anna', 'Kate', 'Emma'],
  ...['Jessica', 'Jennifer', 'Michelle', 'Rebecca', 'Karen', 'Susan', 'Linda', 'Alice', 'Julia', 'Helen'],
];

export const NAMES: readonly { name: string; gender: Gender }[] = [
  ...MALE.map((name) => ({ name, gender: 'male' as const })),
  ...FEMALE.map((name) => ({ name, gender: 'female' as const })),
];

export const PLACES: readonly string[] = [
  'store', 'park', 'school', 'station', 'hospital', 'restaurant', 'garden', 'office', 'beach', 'library', 'market',
];

export const OBJECTS: readonly string[] = [
  'drink', 'ball', 'book', 'gift', 'apple', 'bag', 'ring', 'letter', 'snack', 'orange', 'necklace', 'umbrella',
];

export const PRONOUNS: Record<Gender, string> = { male: ' he', female: ' she' };

/** Concrete nouns for the induction task, where only repetition (not meaning) predicts the next word. */
export const INDUCTION_WORDS: readonly string[] = [
  'apple', 'river', 'stone', 'cloud', 'table', 'garden', 'window', 'music', 'paper', 'silver',
  'forest', 'bottle', 'candle', 'planet', 'market', 'doctor', 'horse', 'bread', 'chair', 'ocean',
  'mountain', 'pencil', 'island', 'winter', 'summer', 'engine', 'castle', 'flower', 'kitchen', 'letter',
  'mirror', 'bridge', 'rabbit', 'tiger', 'coffee', 'butter', 'camera', 'rocket', 'violin', 'desert',
  'jacket', 'basket', 'button', 'carpet', 'dragon', 'feather', 'hammer', 'ladder', 'lemon', 'monkey',
  'needle', 'orange', 'pepper', 'pillow', 'rubber', 'saddle', 'tunnel', 'wallet', 'wheel', 'yellow',
];

/** "a drink", "an apple": the article English wants before the noun. */
export function withArticle(noun: string): string {
  return /^[aeiou]/i.test(noun) ? `an ${noun}` : `a ${noun}`;
}
