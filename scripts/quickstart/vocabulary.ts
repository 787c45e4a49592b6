// Word lists for the quickstart's synthetic job postings and member profiles. Everything generated from
// them is labelled synthetic; no real company, person or posting is described.

export const jobTitles = [
  "Backend Engineer",
  "Data Engineer",
  "Machine Learning Engineer",
  "Site Reliability Engineer",
  "Frontend Developer",
  "Product Manager",
  "Data Scientist",
  "Security Engineer",
  "Mobile Developer",
  "Platform Engineer",
  "Solutions Architect",
  "Technical Writer",
  "QA Engineer",
  "Database Administrator",
  "Engineering Manager",
  "UX Designer",
];

export const companies = [
  "Synthetic Analytics",
  "Example Robotics",
  "Placeholder Health",
  "Demo Logistics",
  "Sample Fintech",
  "Fictional Media",
  "Mock Energy",
  "Imaginary Retail",
  "Pretend Travel",
  "Stub Security",
];

export const cities = ["Berlin", "Dublin", "Toronto", "Austin", "Singapore", "Sydney", "Lisbon", "Nairobi"];

export const seniorities = ["Junior", "Mid", "Senior", "Staff", "Principal"];

export const skills = [
  "Kubernetes",
  "TypeScript",
  "Python",
  "Go",
  "Kafka",
  "Redis",
  "PostgreSQL",
  "Spark",
  "PyTorch",
  "React",
  "Terraform",
  "gRPC",
  "SQL",
  "Rust",
  "Java",
  "Airflow",
  "ONNX",
  "Swift",
  "Figma",
  "Linux",
];

export const industries = [
  "Software",
  "Financial Services",
  "Healthcare",
  "Retail",
  "Logistics",
  "Media",
  "Energy",
  "Education",
];

export const descriptionPhrases = [
  "Build and operate services used by millions of members.",
  "Own data pipelines from ingestion to serving.",
  "Design APIs and work closely with product teams.",
  "Improve reliability, latency and cost of our platform.",
  "Ship features end to end in a small, senior team.",
  "Train, evaluate and deploy ranking models.",
  "Mentor engineers and shape the technical roadmap.",
  "Work with customers to turn requirements into designs.",
];

export const summaryPhrases = [
  "Enjoys building reliable distributed systems.",
  "Focused on machine learning in production.",
  "Passionate about developer experience and tooling.",
  "Likes turning data into product decisions.",
  "Experienced in leading cross-functional teams.",
  "Cares about security and privacy by design.",
  "Curious about search, ranking and recommendations.",
  "Values clear writing and thorough reviews.",
];
