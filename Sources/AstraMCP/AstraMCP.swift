public enum AstraMCP {}
